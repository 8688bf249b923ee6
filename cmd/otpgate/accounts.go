package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/verify"
)

func runAccounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, "Usage: otpgate accounts create --name NAME [--json] [--data-dir DIR]\n")
		return errors.New("accounts: the only subcommand is create")
	}
	fs := flag.NewFlagSet("otpgate accounts create", flag.ContinueOnError)
	name := fs.String("name", "", "the account's name (required)")
	asJSON := fs.Bool("json", false, `print {"sid":"AC...","auth_token":"..."} as JSON`)
	dataDir := fs.String("data-dir", "./otpgate-data", "the server's data directory (works while the server runs)")
	secretFile := fs.String("secret-file", "", "the server secret, if serve was given one (default: DATA_DIR/secret)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: otpgate accounts create --name NAME [--json] [--data-dir DIR]\n\nCreates an API account and prints its SID and auth token (shown only once).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("accounts create: --name is required")
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(*dataDir, "otpgate.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	secret, err := loadSecret(*secretFile, *dataDir)
	if err != nil {
		return err
	}
	keys, err := verify.NewKeys(secret)
	if err != nil {
		return err
	}
	c, err := account.Create(ctx, st, keys, *name, time.Now())
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"sid": c.SID, "auth_token": c.AuthToken})
	}
	_, err = fmt.Fprintf(stdout, "Created account %q. The auth token is shown only this once.\n  Account SID: %s\n  Auth token:  %s\n", c.Name, c.SID, c.AuthToken)
	return err
}
