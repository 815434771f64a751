package csv

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkNext reads a 100,000-row CRM-like file and reports rows per
// second and bytes per second.
func BenchmarkNext(b *testing.B) {
	const rows = 100_000
	var content strings.Builder
	content.WriteString("account_id,company_name,website,industry,annual_revenue,employees,renewal_date,street,city,country,notes\r\n")
	for i := 0; i < rows; i++ {
		id := strconv.Itoa(i)
		content.WriteString(`"CRM-` + id + `","Northwind Fabrication ` + id + `","northwind-fab.example","Manufacturing","1250000.50","120","03/31/2027","12 Quay Road","Leeds","GB","Key account"` + "\r\n")
	}
	path := filepath.Join(b.TempDir(), "accounts.csv")
	if err := os.WriteFile(path, []byte(content.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(content.Len()))
	b.ReportAllocs()

	ctx := context.Background()
	for b.Loop() {
		src, err := Open(ctx, Options{Path: path})
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := src.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		src.Close()
	}
	b.ReportMetric(float64(b.N)*rows/b.Elapsed().Seconds(), "rows/s")
}
