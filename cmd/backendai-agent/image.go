//go:build !slimrun

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/baiagent/agent/runtime/image"
)

const imageUsage = `usage: backendai-agent image <command> [flags]

commands:
  pull REF [--username U] [--password-stdin] [--insecure]   pull from a registry
  import PATH [--tag NAME]     import a docker save tar, an OCI archive or an OCI layout dir
  list                         list images with their config digest (ID)
  inspect REF                  print an image's record as JSON
  rm REF                       remove a tag or an image, and its unused layers
  gc                           remove layers and blobs no image uses
`

func runImage(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, imageUsage)
		return exitUsage
	}
	sub := args[0]
	fs := newFlagSet("image "+sub, stderr)
	var tag, username string
	var insecure, passwordStdin bool
	switch sub {
	case "pull":
		fs.StringVar(&username, "username", "", "registry user name")
		fs.BoolVar(&passwordStdin, "password-stdin", false, "read the registry password from standard input")
		fs.BoolVar(&insecure, "insecure", false, "allow plain HTTP (for a registry explicitly configured as insecure)")
	case "import":
		fs.StringVar(&tag, "tag", "", "name for the imported image")
	case "list", "inspect", "rm", "gc":
	default:
		fmt.Fprintf(stderr, "backendai-agent image: unknown command %q\n\n%s", sub, imageUsage)
		return exitUsage
	}
	pos, err := parseInterspersed(fs, args[1:], false)
	if err != nil {
		return exitUsage
	}
	want := map[string]int{"pull": 1, "import": 1, "inspect": 1, "rm": 1, "list": 0, "gc": 0}[sub]
	if len(pos) != want {
		fmt.Fprintf(stderr, "backendai-agent image %s: want %d argument(s), got %d\n\n%s", sub, want, len(pos), imageUsage)
		return exitUsage
	}
	lc, err := loadConfig(fs.configFile, false)
	if err != nil {
		printProblems(stderr, err)
		return exitFailure
	}
	store, err := image.Open(ctx, image.Options{Root: imageStoreRoot(lc.cfg.Agent.VarBasePath)})
	if err != nil {
		fmt.Fprintf(stderr, "backendai-agent: %v\n", err)
		return exitFailure
	}
	if err := imageCommand(ctx, store, sub, pos, imageFlags{tag, username, insecure, passwordStdin}, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "backendai-agent image %s: %v\n", sub, err)
		return exitFailure
	}
	return exitOK
}

type imageFlags struct {
	tag, username           string
	insecure, passwordStdin bool
}

func imageCommand(ctx context.Context, store *image.Store, sub string, pos []string, f imageFlags, stdout, stderr io.Writer) error {
	switch sub {
	case "pull":
		o := image.PullOptions{Insecure: f.insecure, Auth: image.Credentials{Username: f.username}}
		if f.passwordStdin {
			b, err := io.ReadAll(io.LimitReader(os.Stdin, 64<<10))
			if err != nil {
				return fmt.Errorf("read password: %w", err)
			}
			o.Auth.Password = strings.TrimRight(string(b), "\r\n")
		}
		bar := newProgressBar(stderr, pos[0])
		o.Progress = bar.update
		img, err := store.Pull(ctx, pos[0], o)
		bar.finish()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s\n", img.ID, pos[0])
	case "import":
		bar := newProgressBar(stderr, pos[0])
		imgs, err := store.Import(ctx, pos[0], image.ImportOptions{Tag: f.tag, Progress: bar.update})
		bar.finish()
		if err != nil {
			return err
		}
		for _, img := range imgs {
			fmt.Fprintf(stdout, "%s %s\n", img.ID, strings.Join(img.RepoTags, " "))
		}
	case "list":
		imgs, err := store.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REPOSITORY:TAG\tID\tLAYERS\tSIZE\tSTORED")
		for _, img := range imgs {
			names := img.RepoTags
			if len(names) == 0 {
				names = []string{"<none>"}
			}
			for _, n := range names {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", n, img.ID, len(img.Layers), humanBytes(img.Size), img.Stored.Local().Format(time.DateTime))
			}
		}
		return tw.Flush()
	case "inspect":
		img, err := store.Get(ctx, pos[0])
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(img)
	case "rm":
		removed, err := store.Remove(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s (%d unused layers deleted)\n", pos[0], len(removed))
	case "gc":
		removed, err := store.GC(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d unused layers deleted\n", len(removed))
	}
	return nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// progressBar shows a pull's progress: one line redrawn on a terminal,
// a line per finished layer otherwise.
type progressBar struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	ref    string
	layers map[string]image.Progress
	last   time.Time
}

func newProgressBar(w io.Writer, ref string) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progressBar{w: w, tty: tty, ref: ref, layers: map[string]image.Progress{}}
}

func (b *progressBar) update(p image.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	prev := b.layers[p.Layer]
	b.layers[p.Layer] = p
	if !b.tty {
		if p.Done && !prev.Done {
			state := "unpacked"
			if p.Cached {
				state = "already present"
			}
			fmt.Fprintf(b.w, "layer %s %s\n", short(p.Layer), state)
		}
		return
	}
	if time.Since(b.last) < 100*time.Millisecond && !p.Done {
		return
	}
	b.last = time.Now()
	var cur, total int64
	done := 0
	for _, l := range b.layers {
		cur += l.Current
		total += l.Total
		if l.Done {
			done++
		}
	}
	width := 30
	fill := 0
	if total > 0 {
		fill = int(float64(width) * float64(min(cur, total)) / float64(total))
	}
	fmt.Fprintf(b.w, "\r%s [%s%s] %d/%d layers %s/%s ", b.ref, strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		done, len(b.layers), humanBytes(cur), humanBytes(total))
}

func (b *progressBar) finish() {
	if b.tty {
		fmt.Fprintln(b.w)
	}
}

func short(digest string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}
