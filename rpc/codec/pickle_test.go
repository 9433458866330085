package codec

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// pk concatenates pickle pieces: byte, string (raw) or []byte.
func pk(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch x := p.(type) {
		case byte:
			b = append(b, x)
		case int:
			b = append(b, byte(x))
		case rune:
			b = append(b, byte(x))
		case string:
			b = append(b, x...)
		case []byte:
			b = append(b, x...)
		}
	}
	return b
}

// u is SHORT_BINUNICODE s.
func u(s string) []byte { return pk(opShortBinUni, len(s), s) }

// sg is STACK_GLOBAL module.name.
func sg(module, name string) []byte { return pk(u(module), u(name), opStackGlobal) }

const proto5 = "\x80\x05"

func TestUnpickleRefuses(t *testing.T) {
	enumCls := sg(modTypes, "SessionTypes")
	tests := []struct {
		name      string
		in        []byte
		want      string
		forbidden bool
	}{
		{"GLOBAL os.system", pk(proto5, "cos\nsystem\n(", u("id"), "tR."), "os.system", true},
		{"builtins.eval", pk(proto5, sg("builtins", "eval"), u("1"), opTuple1, "R."), "builtins.eval", true},
		{"subprocess.Popen", pk(proto5, sg("subprocess", "Popen"), ")", opNewObj, "."), "subprocess.Popen", true},
		{"module prefix only", pk(proto5, sg("ai.backendx", "X"), "."), "ai.backendx.X", true},
		{"dunder name", pk(proto5, sg("ai.backend.common", "__init__"), "."), "__init__", true},
		{"getattr on Decimal", pk(proto5, sg("builtins", "getattr"), sg("decimal", "Decimal"), u("x"), opTuple2, "R."), "getattr", true},
		{"getattr private member", pk(proto5, sg("builtins", "getattr"), enumCls, u("_x"), opTuple2, "R."), "member", false},
		{"enum with two args", pk(proto5, enumCls, u("a"), u("b"), opTuple2, "R."), "one scalar", false},
		{"enum with a list", pk(proto5, enumCls, "]", opTuple1, "R."), "one scalar", false},
		{"enum instantiated", pk(proto5, enumCls, ")", opNewObj, "."), "cannot be instantiated", false},
		{"Decimal bad text", pk(proto5, sg("decimal", "Decimal"), u("1.2.3"), opTuple1, "R."), "invalid syntax", false},
		{"Decimal no args", pk(proto5, sg("decimal", "Decimal"), ")R."), "one str", false},
		{"ImageRef reduced", pk(proto5, sg(modDocker, "ImageRef"), ")R."), "cannot be called", false},
		{"SlotName without text", pk(proto5, sg(modTypes, "SlotName"), ")", opNewObj, "."), "unexpected arguments", false},
		{"ImageRef without fields", pk(proto5, sg(modDocker, "ImageRef"), ")", opNewObj, "}b."), "name is a None", false},
		{"ResourceSlot without data", pk(proto5, sg(modTypes, "ResourceSlot"), ")", opNewObj, "."), "data is a None", false},
		{"BUILD twice", pk(proto5, sg(modTypes, "ResourceSlot"), ")", opNewObj, "}b}b."), "twice", false},
		{"BUILD on a str", pk(proto5, u("x"), "}b."), "BUILD on a str", false},
		{"None result", pk(proto5, "N."), "not an allowed class", false},
		{"dict result", pk(proto5, "}."), "not an allowed class", false},
		{"protocol 6", pk("\x80\x06N."), "protocol 6", false},
		{"memo unset", pk(proto5, opBinGet, 3, "."), "memo 3 not set", false},
		{"stack underflow", pk(proto5, "R."), "underflow", false},
		{"pop below mark", pk(proto5, "N(0."), "underflow", false},
		{"tuple1 below mark", pk(proto5, "N(", opTuple1, "."), "underflow", false},
		{"no mark", pk(proto5, "t."), "no MARK", false},
		{"no STOP", pk(proto5, "N"), "truncated", false},
		{"short str", pk(proto5, opShortBinUni, 10, "ab"), "truncated", false},
		{"huge BINUNICODE8", pk(proto5, opBinUnicode8, "\xff\xff\xff\xff\xff\xff\xff\x7f"), "truncated", false},
		{"huge LONG4", pk(proto5, opLong4, "\xff\xff\xff\x7f"), "truncated", false},
		{"negative LONG4", pk(proto5, opLong4, "\xff\xff\xff\xff"), "negative", false},
		{"huge FRAME", pk(proto5, opFrame, "\x00\x00\x00\x00\x00\x00\x01\x00N."), "truncated", false},
		{"bad UTF-8", pk(proto5, sg("decimal", "Decimal"), u("\xff"), opTuple1, "R."), "UTF-8", false},
		{"list as dict key", pk(proto5, "}]Ns."), "unsupported dict key of type list", false},
		{"APPEND to a dict", pk(proto5, "}Na."), "APPEND to a dict", false},
		{"GLOBAL without newline", pk(proto5, "cdecimal"), "newline", false},
		{"oversized", bytes.Repeat([]byte("N"), maxPickleSize+1), "limit", false},
		{"deep stack", pk(proto5, "N", bytes.Repeat([]byte{opDup}, maxPickleStack), "."), "stack too deep", false},
	}
	for _, op := range []byte{'i', 'o', 'P', 'Q', 'I', 'L', 'S', 'V', 'F', 'g', 'p', 0x82, 0x83, 0x84, 0x8f, 0x90, 0x91, 0x92, 0x96, 0x97, 0x98, 0xff} {
		tests = append(tests, struct {
			name      string
			in        []byte
			want      string
			forbidden bool
		}{fmt.Sprintf("opcode %q", rune(op)), pk(proto5, "N", op, "0."), "unsupported opcode", false})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Unpickle(tt.in)
			if err == nil {
				t.Fatalf("got %#v, want error containing %q", v, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
			if got := errors.Is(err, ErrForbiddenClass); got != tt.forbidden {
				t.Fatalf("errors.Is(%q, ErrForbiddenClass) = %v, want %v", err, got, tt.forbidden)
			}
		})
	}
}

// TestUnpickleAccepts covers forms CPython writes that the golden fixtures
// do not: other enum value types, older states, long memo opcodes.
func TestUnpickleAccepts(t *testing.T) {
	enumOf := func(value ...any) []byte {
		return pk(proto5, sg("ai.backend.x", "E"), pk(value...), opTuple1, "R.")
	}
	tests := []struct {
		name string
		in   []byte
		want any
	}{
		{"int enum", enumOf(opBinInt1, 7), Enum{Module: "ai.backend.x", Class: "E", Value: int64(7)}},
		{"negative int enum", enumOf(opBinInt, "\xff\xff\xff\xff"), Enum{Module: "ai.backend.x", Class: "E", Value: int64(-1)}},
		{"LONG1 enum", enumOf(opLong1, 3, "\x00\x80\x00"), Enum{Module: "ai.backend.x", Class: "E", Value: int64(32768)}},
		{"negative LONG1 enum", enumOf(opLong1, 2, "\x00\x80"), Enum{Module: "ai.backend.x", Class: "E", Value: int64(-32768)}},
		{"LONG1 sign-extended beyond 8 bytes", enumOf(opLong1, 10, "\xfe\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
			Enum{Module: "ai.backend.x", Class: "E", Value: int64(-2)}},
		{"empty LONG1", enumOf(opLong1, 0), Enum{Module: "ai.backend.x", Class: "E", Value: int64(0)}},
		{"float enum", enumOf(opBinFloat, "\x3f\xf8\x00\x00\x00\x00\x00\x00"), Enum{Module: "ai.backend.x", Class: "E", Value: 1.5}},
		{"bool enum", enumOf(opNewTrue), Enum{Module: "ai.backend.x", Class: "E", Value: true}},
		{"None enum", enumOf(opNone), Enum{Module: "ai.backend.x", Class: "E", Value: nil}},
		{"bytes enum", enumOf(opShortBinBytes, 2, "hi"), Enum{Module: "ai.backend.x", Class: "E", Value: []byte("hi")}},
		{"surrogate str enum", enumOf(u("\xed\xa0\x80")), Enum{Module: "ai.backend.x", Class: "E", Value: "\xed\xa0\x80"}},
		{"nested class", pk(proto5, sg("ai.backend.x", "Outer.Inner"), u("v"), opTuple1, "R."),
			Enum{Module: "ai.backend.x", Class: "Outer.Inner", Value: "v"}},
		{"old ResourceSlot state", pk(proto5, sg(modTypes, "ResourceSlot"), ")", opNewObj,
			"}", u("data"), "}(", u("cpu"), u("1.5"), u("mem"), opBinInt2, "\x00\x01", "usb."),
			ResourceSlot{{"cpu", "1.5"}, {"mem", "256"}}},
		{"SlotName key", pk(proto5, sg(modTypes, "ResourceSlot"), ")", opNewObj,
			"}", u("data"), "}", sg(modTypes, "SlotName"), u("cpu"), opTuple1, opNewObj,
			sg("decimal", "Decimal"), u("2"), opTuple1, "Rssb."),
			ResourceSlot{{"cpu", "2"}}},
		{"old SlotName state", pk(proto5, sg(modTypes, "SlotName"), u("x"), opTuple1, opNewObj, "}", u("data"), u("cpu"), "sb."),
			SlotName("cpu")},
		{"long memo", pk(proto5, sg("decimal", "Decimal"), opLongBinPut, "\x00\x01\x00\x00", "0",
			opLongBinGet, "\x00\x01\x00\x00", u("7"), opTuple1, "R."), Decimal("7")},
		{"protocol 0 containers", pk(proto5, sg(modDocker, "ImageRef"), ")", opNewObj, "(", u("name"), u("n"), u("project"), "N",
			u("tag"), u("t"), u("registry"), u("r"), u("architecture"), u("a"), u("is_local"), opNewFalse, "db."),
			ImageRef{Name: "n", Tag: "t", Registry: "r", Architecture: "a"}},
		{"trailing bytes ignored", pk(enumOf(opNone), "garbage"), Enum{Module: "ai.backend.x", Class: "E"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unpickle(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := diff("value", tt.want, got); d != "" {
				t.Fatal(d)
			}
		})
	}
}

func TestPickleRoundTrip(t *testing.T) {
	project := "p"
	big := make(ResourceSlot, 2500)
	for i := range big {
		big[i] = SlotQuantity{Slot: fmt.Sprint(i), Quantity: "1"}
	}
	values := []any{
		Decimal("-1.5E-7"), Decimal("sNaN123"),
		Enum{Module: "ai.backend.a", Class: "B", Value: "x"},
		Enum{Module: "ai.backend.a", Class: "B", Value: int64(-300)},
		Enum{Module: "ai.backend.a", Class: "B", Value: 2.5},
		Enum{Module: "ai.backend.a", Class: "B", Value: false},
		Enum{Module: "ai.backend.a", Class: "B", Value: bytes.Repeat([]byte("z"), 300)},
		Enum{Module: "ai.backend.a", Class: "B", Member: "X"},
		ImageRef{Name: "n", Project: &project, Tag: "t", Registry: "r", Architecture: "a", IsLocal: true},
		ResourceSlot{}, big,
		SlotName("cuda.device"), SlotName(""), SlotName("x"),
		BinarySize(0), BinarySize(1 << 62), BinarySize(-1 << 63), BinarySize(-129), BinarySize(-32769), BinarySize(1<<31 - 1),
	}
	for _, v := range values {
		b, err := Pickle(v)
		if err != nil {
			t.Fatalf("Pickle(%#v): %v", v, err)
		}
		got, err := Unpickle(b)
		if err != nil {
			t.Fatalf("Unpickle(Pickle(%#v)): %v\n% x", v, err, b)
		}
		if d := diff("value", v, got); d != "" {
			t.Fatal(d)
		}
	}
	if b, err := Pickle(&ImageRef{Name: "n"}); err != nil || !bytes.Contains(b, []byte("ImageRef")) {
		t.Fatalf("Pickle(*ImageRef) = %q, %v", b, err)
	}
}

func TestPickleRefuses(t *testing.T) {
	huge := make(ResourceSlot, 5000)
	for i := range huge {
		huge[i] = SlotQuantity{Slot: fmt.Sprintf("slot-%05d", i), Quantity: "12345.678"}
	}
	tests := []struct {
		name string
		in   any
	}{
		{"bad decimal", Decimal("1,5")},
		{"empty decimal", Decimal("")},
		{"bad enum module", Enum{Module: "ai backend", Class: "X", Value: "v"}},
		{"empty enum class", Enum{Module: "ai.backend.x", Value: "v"}},
		{"enum value map", Enum{Module: "ai.backend.x", Class: "X", Value: map[string]any{}}},
		{"nil *ImageRef", (*ImageRef)(nil)},
		{"invalid UTF-8", SlotName("\xff")},
		{"bad slot quantity", ResourceSlot{{"cpu", "x"}}},
		{"more than one frame", huge},
		{"not a pickled class", "str"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := Pickle(tt.in); err == nil {
				t.Fatalf("got % x, want an error", b)
			}
		})
	}
}
