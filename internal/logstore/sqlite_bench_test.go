package logstore

// The SQLite side of the measurement in docs/adr/0003-log-store.md, kept so
// it can be repeated: go test -run '^$' -bench 'Append200k|ReadMiddle' ./internal/logstore/

import (
	"database/sql"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/logline"
	_ "modernc.org/sqlite"
)

const sqliteChunk = 1000 // lines per row, or per transaction for one row per line

func openSQLite(tb testing.TB, dir string) *sql.DB {
	tb.Helper()
	// WAL with synchronous=NORMAL does not fsync on commit, like the file
	// store, which never fsyncs: the comparison is of formats, not of disks.
	dsn := "file:" + filepath.Join(dir, "logs.db") +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one writer, as the design asks of SQLite
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS log_chunks (log TEXT NOT NULL, first INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (log, first)) WITHOUT ROWID`,
		`CREATE TABLE IF NOT EXISTS log_lines (log TEXT NOT NULL, n INTEGER NOT NULL, stream INTEGER NOT NULL, t INTEGER NOT NULL, text BLOB NOT NULL, PRIMARY KEY (log, n)) WITHOUT ROWID`,
	} {
		if _, err := db.Exec(q); err != nil {
			tb.Fatal(err)
		}
	}
	return db
}

// sqliteChunks stores sqliteChunk lines per row, framed as in the data file;
// one transaction per row, which is when its lines become visible.
func sqliteChunksAppend(tb testing.TB, db *sql.DB, log string, lines int64) {
	stmt, err := db.Prepare(`INSERT INTO log_chunks (log, first, data) VALUES (?, ?, ?)`)
	if err != nil {
		tb.Fatal(err)
	}
	defer stmt.Close()
	buf := make([]byte, 0, sqliteChunk*100)
	first := int64(1)
	for n := int64(1); n <= lines; n++ {
		l := benchLine(n)
		buf = appendRecord(buf, byte(l.Stream), uint64(l.Time.UnixNano()), l.Text)
		if n%sqliteChunk == 0 || n == lines {
			if _, err := stmt.Exec(log, first, buf); err != nil {
				tb.Fatal(err)
			}
			buf, first = buf[:0], n+1
		}
	}
}

func sqliteChunksRead(db *sql.DB, log string, from int64, limit int) ([]logline.Line, error) {
	rows, err := db.Query(`SELECT first, data FROM log_chunks WHERE log = ? AND first > ? AND first < ? ORDER BY first`,
		log, from-sqliteChunk, from+int64(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []logline.Line
	for rows.Next() {
		var first int64
		var data []byte
		if err := rows.Scan(&first, &data); err != nil {
			return nil, err
		}
		for n := first; len(data) > 0 && len(out) < limit; n++ {
			stream, ns := data[0], binary.LittleEndian.Uint64(data[1:9])
			size, w := binary.Uvarint(data[9:])
			text := data[9+w : 9+w+int(size)]
			data = data[9+w+int(size)+crcLen:]
			if n >= from {
				out = append(out, logline.Line{N: n, Stream: logline.Stream(stream), Time: time.Unix(0, int64(ns)), Text: text})
			}
		}
	}
	return out, rows.Err()
}

// sqliteLines stores one row per line, sqliteChunk rows per transaction.
func sqliteLinesAppend(tb testing.TB, db *sql.DB, log string, lines int64) {
	for first := int64(1); first <= lines; first += sqliteChunk {
		tx, err := db.Begin()
		if err != nil {
			tb.Fatal(err)
		}
		stmt, err := tx.Prepare(`INSERT INTO log_lines (log, n, stream, t, text) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			tb.Fatal(err)
		}
		for n := first; n < first+sqliteChunk && n <= lines; n++ {
			l := benchLine(n)
			if _, err := stmt.Exec(log, n, int(l.Stream), l.Time.UnixNano(), l.Text); err != nil {
				tb.Fatal(err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			tb.Fatal(err)
		}
	}
}

func sqliteLinesRead(db *sql.DB, log string, from int64, limit int) ([]logline.Line, error) {
	rows, err := db.Query(`SELECT n, stream, t, text FROM log_lines WHERE log = ? AND n >= ? ORDER BY n LIMIT ?`, log, from, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []logline.Line
	for rows.Next() {
		var l logline.Line
		var ns int64
		if err := rows.Scan(&l.N, &l.Stream, &ns, &l.Text); err != nil {
			return nil, err
		}
		l.Time = time.Unix(0, ns)
		out = append(out, l)
	}
	return out, rows.Err()
}

type sqliteVariant struct {
	name   string
	append func(testing.TB, *sql.DB, string, int64)
	read   func(*sql.DB, string, int64, int) ([]logline.Line, error)
}

var sqliteVariants = []sqliteVariant{
	{"sqlite-chunks", sqliteChunksAppend, sqliteChunksRead},
	{"sqlite-lines", sqliteLinesAppend, sqliteLinesRead},
}

// TestSQLiteVariantsReadWhatTheyWrote keeps the benchmark honest.
func TestSQLiteVariantsReadWhatTheyWrote(t *testing.T) {
	for _, v := range sqliteVariants {
		t.Run(v.name, func(t *testing.T) {
			db := openSQLite(t, t.TempDir())
			defer db.Close()
			v.append(t, db, "k", 2500)
			for _, from := range []int64{1, 999, 1000, 1001, 2450} {
				got, err := v.read(db, "k", from, 100)
				if err != nil {
					t.Fatal(err)
				}
				want := min(100, 2501-from)
				if int64(len(got)) != want {
					t.Fatalf("from %d: %d lines, want %d", from, len(got), want)
				}
				for i, l := range got {
					w := benchLine(from + int64(i))
					if l.N != w.N || l.Stream != w.Stream || !l.Time.Equal(w.Time) || string(l.Text) != string(w.Text) {
						t.Fatalf("from %d: line %d = %+v, want %+v", from, i, l, w)
					}
				}
			}
		})
	}
}

func BenchmarkAppend200k(b *testing.B) {
	b.Run("files", benchAppendFiles)
	for _, v := range sqliteVariants {
		b.Run(v.name, func(b *testing.B) {
			db := openSQLite(b, b.TempDir())
			defer db.Close()
			b.ReportAllocs()
			b.SetBytes(benchAppendLines * int64(len(benchText)))
			i := 0
			for b.Loop() {
				i++
				v.append(b, db, fmt.Sprint("log", i), benchAppendLines)
			}
		})
	}
}

var bigSQLite sync.Map // variant name -> *sql.DB holding a 1M-line log "big"

func BenchmarkReadMiddle(b *testing.B) {
	b.Run("files", benchReadMiddleFiles)
	for _, v := range sqliteVariants {
		b.Run(v.name, func(b *testing.B) {
			dbv, ok := bigSQLite.Load(v.name)
			if !ok {
				db := openSQLite(b, benchTempDir(b))
				v.append(b, db, "big", benchBigLines)
				bigSQLite.Store(v.name, db)
				dbv = db
			}
			db := dbv.(*sql.DB)
			b.ReportAllocs()
			for b.Loop() {
				lines, err := v.read(db, "big", benchReadFrom, benchReadLimit)
				if err != nil || len(lines) != benchReadLimit || lines[0].N != benchReadFrom {
					b.Fatalf("read = %d lines, %v", len(lines), err)
				}
			}
		})
	}
}
