package mapping

import (
	"testing"
)

// BenchmarkMap maps one CRM record with every common type and reports the
// throughput in rows per second.
func BenchmarkMap(b *testing.B) {
	mapper := mustNew(b, crmMapping(), crmColumns)
	rec := northwind()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := mapper.Map(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkMapParallel maps from several goroutines, as a worker pool would.
func BenchmarkMapParallel(b *testing.B) {
	mapper := mustNew(b, crmMapping(), crmColumns)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rec := northwind()
		for pb.Next() {
			if _, err := mapper.Map(rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
