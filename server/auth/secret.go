package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SecretEnv names the environment variable holding the HS256 secret.
const SecretEnv = "GRIMOIRE_JWT_SECRET"

// SecretFile is the file, inside the data directory, that holds the generated
// HS256 secret when SecretEnv is unset.
const SecretFile = "jwt-secret"

// LoadOrCreateSecret returns the HS256 secret: the value of GRIMOIRE_JWT_SECRET
// when set, otherwise the content of <dataDir>/jwt-secret, generating that file
// (32 random bytes, hex, mode 0600) on first use. `grimoire serve` and
// `grimoire token create` call it with the same data directory and so agree.
func LoadOrCreateSecret(dataDir string) ([]byte, error) {
	if v, ok := os.LookupEnv(SecretEnv); ok && v != "" {
		if len(v) < MinSecretBytes {
			return nil, fmt.Errorf("%s is %d bytes: use at least %d (for example `openssl rand -hex 32`)", SecretEnv, len(v), MinSecretBytes)
		}
		return []byte(v), nil
	}
	if dataDir == "" {
		return nil, fmt.Errorf("no %s set and no data directory to keep a generated secret in", SecretEnv)
	}
	path := filepath.Join(dataDir, SecretFile)
	if secret, err := readSecret(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %q: %w", dataDir, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("generate JWT secret: %w", err)
	}
	secret := []byte(hex.EncodeToString(raw))
	// O_EXCL: when two processes start at once, one writes and the other reads.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create JWT secret file: %w", err)
	}
	if _, err := f.Write(secret); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write JWT secret file %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write JWT secret file %q: %w", path, err)
	}
	return secret, nil
}

// ErrNoSecret: the data directory holds no generated secret (no server has
// started on it) and GRIMOIRE_JWT_SECRET is unset.
var ErrNoSecret = errors.New("no JWT secret")

// LoadSecret is LoadOrCreateSecret without the creating: a data directory
// without a secret is an error wrapping ErrNoSecret that names it, so that a
// token is never signed with a secret no server knows.
func LoadSecret(dataDir string) ([]byte, error) {
	if v, ok := os.LookupEnv(SecretEnv); ok && v != "" {
		return LoadOrCreateSecret(dataDir)
	}
	path := filepath.Join(dataDir, SecretFile)
	secret, err := readSecret(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s and %s is unset: is this the server's data directory? (`grimoire serve --data DIR` creates it)", ErrNoSecret, path, SecretEnv)
	}
	return secret, err
}

func readSecret(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("JWT secret file %q has mode %o: other users could read it; run `chmod 600 %s`", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read JWT secret file: %w", err)
	}
	if len(b) < MinSecretBytes {
		return nil, fmt.Errorf("JWT secret file %q holds %d bytes, need at least %d: delete it to generate a new one", path, len(b), MinSecretBytes)
	}
	return b, nil
}

// SecretIsGenerated reports whether LoadOrCreateSecret uses the secret it
// generates into the data directory (GRIMOIRE_JWT_SECRET is unset): a
// development setup, where the machine's user is the only one.
func SecretIsGenerated() bool {
	v, ok := os.LookupEnv(SecretEnv)
	return !ok || v == ""
}
