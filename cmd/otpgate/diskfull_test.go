package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The disk filling up, on a 8 MiB tmpfs (mounting needs root; the test says
// so and skips where it cannot): sends answer 201 or the standard 503 with
// Retry-After, never 500; once space returns sends go again; and after a
// kill -9 every acknowledged message is there.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a disk")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.MkdirAll(mnt, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v: %s): the disk-full test needs root", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	dataDir, addr := filepath.Join(mnt, "data"), freeAddr(t)
	c := startChild(t, dataDir, addr)
	s := c.server(t)
	msgs := "/2010-04-01/Accounts/" + s.SID + "/Messages"
	var acked []string
	send := func(i int) response {
		r := s.postForm(t, msgs+".json", url.Values{"To": {fmt.Sprintf("+96279%07d", 7000000+i)}, "From": {"MyApp"},
			"Body": {fmt.Sprintf("message %d, long enough to fill the pages of the database and its log a little faster", i)}})
		if r.Status == 201 {
			acked = append(acked, r.str("sid"))
		}
		return r
	}
	for i := range 20 {
		if r := send(i); r.Status != 201 {
			t.Fatalf("send %d before the disk filled: %d %s", i, r.Status, r.Raw)
		}
	}
	filler, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := filler.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	filler.Close()
	refused := 0
	for i := 20; i < 800 && refused < 20; i++ {
		r := send(i)
		switch {
		case r.Status == 201:
		case r.Status == 503 && r.num("code") == 20503 && r.Header.Get("Retry-After") != "":
			refused++
		default:
			t.Fatalf("send %d on a full disk: %d %s, want 201 or the JSON 503 with Retry-After", i, r.Status, r.Raw)
		}
	}
	if refused == 0 {
		t.Fatalf("800 sends on a full disk were all accepted: the disk never filled")
	}
	os.Remove(filepath.Join(mnt, "filler"))
	deadline := time.Now().Add(10 * time.Second)
	for i := 1000; send(i).Status != 201; i++ {
		if time.Now().After(deadline) {
			t.Fatal("sends did not recover within 10 s of space returning")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
	startChild(t, dataDir, addr)
	for _, sid := range acked {
		if r := call(t, "GET", s.URL+msgs+"/"+sid+".json", s.SID, s.Token, "", ""); r.Status != 200 {
			t.Fatalf("acknowledged message %s after kill -9: %d %s", sid, r.Status, r.Raw)
		}
	}
	t.Logf("%d acknowledged, %d refused with 503 while the disk was full, all %d there after kill -9", len(acked), refused, len(acked))
}
