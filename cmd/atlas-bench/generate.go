package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/mapping"
	"github.com/atlas-sync/atlas-sync/sources"
	csvsource "github.com/atlas-sync/atlas-sync/sources/csv"
	"github.com/atlas-sync/atlas-sync/state"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// jobName is the job of every scenario.
const jobName = "crm"

// csvHeader and writeCSV produce a CRM export with eleven columns, about
// 180 bytes per row, quoted like a typical spreadsheet export.
const csvHeader = "account_id,company_name,website,industry,annual_revenue,employees,renewal_date,street,city,country,notes\r\n"

var industries = []string{"Manufacturing", "Retail", "Software", "Logistics", "Healthcare", "Finance"}

// writeCSV writes rows accounts to path and returns the file's size.
func writeCSV(path string, rows int) (int64, error) {
	file, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(file, 1<<20)
	w.WriteString(csvHeader)
	var line []byte
	for i := 0; i < rows; i++ {
		line = appendRow(line[:0], i)
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		file.Close()
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	info, err := file.Stat()
	if err != nil {
		file.Close()
		return 0, err
	}
	return info.Size(), file.Close()
}

func appendRow(b []byte, i int) []byte {
	id := strconv.Itoa(i)
	b = append(b, `"CRM-`...)
	b = append(b, id...)
	b = append(b, `","Northwind Fabrication `...)
	b = append(b, id...)
	b = append(b, `","northwind-`...)
	b = append(b, id...)
	b = append(b, `.example","`...)
	b = append(b, industries[i%len(industries)]...)
	b = append(b, `","`...)
	b = strconv.AppendInt(b, int64(10_000+i*37%9_000_000), 10)
	b = append(b, `.50","`...)
	b = strconv.AppendInt(b, int64(5+i%5000), 10)
	b = append(b, `","03/`...)
	b = strconv.AppendInt(b, int64(10+i%19), 10)
	b = append(b, `/2027","`...)
	b = strconv.AppendInt(b, int64(1+i%200), 10)
	b = append(b, ` Quay Road","Leeds","GB","Key account, renewal owner: regional team"`...)
	return append(b, "\r\n"...)
}

// crmMapping maps every column of the generated file, with the common
// custom-field types.
func crmMapping() config.Mapping {
	return config.Mapping{
		ExternalID: "account_id",
		Name:       "company_name",
		Fields:     map[string]config.Field{"domain": {Column: "website"}},
		CustomFields: map[string]config.Field{
			"industry":       {Column: "industry"},
			"annual_revenue": {Column: "annual_revenue", Type: "decimal"},
			"employees":      {Column: "employees", Type: "number"},
			"renewal_date":   {Column: "renewal_date", Type: "date", Layout: "01/02/2006"},
			"address":        {Type: "address", Street1: "street", City: "city", Country: "country"},
			"notes":          {Column: "notes"},
		},
	}
}

func csvJob(path string) atlassync.Job {
	return atlassync.Job{
		Name: jobName,
		Open: func(ctx context.Context, _ sources.OpenOptions) (sources.Source, error) {
			return csvsource.Open(ctx, csvsource.Options{Path: path})
		},
		Mapping: crmMapping(),
	}
}

// fillCheckpoint records an acknowledgement of every row of the CSV file
// as the engine's checkpoint writer would, in batches of batchSize, so
// that an incremental run finds nothing to send.
func fillCheckpoint(ctx context.Context, store *state.Store, csvPath string, batchSize int) error {
	src, err := csvsource.Open(ctx, csvsource.Options{Path: csvPath})
	if err != nil {
		return err
	}
	defer src.Close()
	mapper, err := mapping.New(crmMapping(), src.Columns())
	if err != nil {
		return err
	}

	sentAt := time.Now().Add(-time.Hour)
	row := 0
	acks := make([]state.Ack, 0, batchSize)
	flush := func() error {
		if err := store.Record(ctx, jobName, acks, nil); err != nil {
			return err
		}
		acks = acks[:0]
		return nil
	}
	for {
		rec, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		payload, err := mapper.Map(rec)
		if err != nil {
			return err
		}
		acks = append(acks, state.Ack{
			ExternalID: payload.ExternalID,
			Hash:       payload.Hash,
			AtlasID:    fakeUUID(row),
			SentAt:     sentAt,
		})
		row++
		if len(acks) == batchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// fakeUUID returns a 36-character ID shaped like the UUIDs Atlas returns.
func fakeUUID(n int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n)
}
