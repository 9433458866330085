package zmq

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unsafe"
)

// z85KeyLen is the length of a CURVE key in z85.
const z85KeyLen = 40

// NewCurveKeypair returns a fresh CURVE key pair in z85 (zmq_curve_keypair).
func NewCurveKeypair() (public, secret string, err error) {
	if err := load(); err != nil {
		return "", "", err
	}
	var pub, sec [z85KeyLen + 1]C.char
	if rc, err := C.zmqx_curve_keypair(&pub[0], &sec[0]); rc != 0 {
		return "", "", fmt.Errorf("zmq_curve_keypair: %w", errnoOf(err))
	}
	return C.GoString(&pub[0]), C.GoString(&sec[0]), nil
}

// AuthCurvePublic derives the z85 public key of a z85 secret key
// (zmq_curve_public).
func AuthCurvePublic(secret string) (string, error) {
	if err := load(); err != nil {
		return "", err
	}
	// zmq_curve_public decodes strlen(secret)*4/5 bytes into a 32-byte
	// buffer: anything but 40 characters would overrun it.
	if len(secret) != z85KeyLen || strings.IndexByte(secret, 0) >= 0 {
		return "", fmt.Errorf("zmq_curve_public: secret key is not %d z85 characters: %w", z85KeyLen, EINVAL)
	}
	var pub, sec [z85KeyLen + 1]byte
	copy(sec[:], secret)
	rc, err := C.zmqx_curve_public((*C.char)(unsafe.Pointer(&pub[0])), (*C.char)(unsafe.Pointer(&sec[0])))
	if rc != 0 {
		return "", fmt.Errorf("zmq_curve_public: %w", errnoOf(err))
	}
	return string(pub[:z85KeyLen]), nil
}

// HasCurve reports whether libzmq was built with CURVE (Debian's is);
// false when libzmq cannot be loaded.
func HasCurve() bool {
	if load() != nil {
		return false
	}
	curve := C.CString("curve")
	defer C.free(unsafe.Pointer(curve))
	return C.zmqx_has(curve) != 0
}

// Version is the loaded libzmq's version.
func Version() (major, minor, patch int, err error) {
	if err := load(); err != nil {
		return 0, 0, 0, err
	}
	var ma, mi, pa C.int
	C.zmqx_version(&ma, &mi, &pa)
	return int(ma), int(mi), int(pa), nil
}

// z85Chars is Z85's alphabet (ZeroMQ RFC 32).
const z85Chars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// Z85encode is data in Z85 (ZeroMQ RFC 32), or "" when its length is not
// a multiple of 4, as zmq_z85_encode. Pure Go: a ZAP handler calls it per
// handshake, and it needs nothing from the library.
func Z85encode(data string) string {
	if len(data)%4 != 0 {
		return ""
	}
	out := make([]byte, 0, len(data)/4*5)
	for i := 0; i < len(data); i += 4 {
		v := binary.BigEndian.Uint32([]byte(data[i : i+4]))
		var chunk [5]byte
		for j := 4; j >= 0; j-- {
			chunk[j] = z85Chars[v%85]
			v /= 85
		}
		out = append(out, chunk[:]...)
	}
	return string(out)
}
