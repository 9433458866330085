package callosum

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
)

// LoadCertificate reads a ZeroMQ certificate file as pyzmq's
// zmq.auth.create_certificates writes it (ZPL: a "curve" section with
// public-key = "<z85>" and, in the secret file, secret-key = "<z85>").
// secret is empty for a public certificate. Like pyzmq's loader it takes
// the first public-key and secret-key lines outside comments.
func LoadCertificate(path string) (public, secret string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("load certificate: %w", err)
	}
	public, secret, err = parseCertificate(data)
	if err != nil {
		return "", "", fmt.Errorf("load certificate %s: %w", path, err)
	}
	return public, secret, nil
}

func parseCertificate(data []byte) (public, secret string, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		value = strings.Trim(value, " \t'\"")
		switch strings.TrimSpace(name) {
		case "public-key":
			if public == "" {
				public = value
			}
		case "secret-key":
			if secret == "" {
				secret = value
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", err
	}
	if public == "" {
		return "", "", errors.New("no public-key")
	}
	if err := checkZ85Key(public); err != nil {
		return "", "", fmt.Errorf("public-key: %w", err)
	}
	if secret != "" {
		if err := checkZ85Key(secret); err != nil {
			return "", "", fmt.Errorf("secret-key: %w", err)
		}
	}
	return public, secret, nil
}
