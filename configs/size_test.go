package configs

import "testing"

func TestParseBinarySize(t *testing.T) {
	tests := []struct {
		in      string
		want    BinarySize
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "512", want: 512},
		{in: "512b", want: 512},
		{in: "64K", want: 64 << 10},
		{in: "64k", want: 64 << 10},
		{in: "10M", want: 10 << 20},
		{in: "10MB", want: 10 << 20},
		{in: "10MiB", want: 10 << 20},
		{in: "10 mbytes", want: 10 << 20},
		{in: "1G", want: 1 << 30},
		{in: "1.5G", want: 3 << 29},
		{in: "1_024", want: 1024},
		{in: " 2T ", want: 2 << 40},
		{in: "1E", want: 1 << 60},
		{in: "", wantErr: true},
		{in: "1.5", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "-1G", wantErr: true},
		{in: "1X", wantErr: true},
		{in: "G", wantErr: true},
		{in: "inf", wantErr: true},
		{in: "1/2G", wantErr: true},
		{in: "16E", wantErr: true},
		{in: "1Y", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseBinarySize(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseBinarySize(%q) = %d, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseBinarySize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestBinarySizeString(t *testing.T) {
	tests := []struct {
		in   BinarySize
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1500, "1500"},
		{1024, "1K"},
		{64 << 10, "64K"},
		{10 << 20, "10M"},
		{1 << 30, "1G"},
		{3 << 29, "1536M"},
		{8 << 40, "8T"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Fatalf("BinarySize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
			}
			back, err := ParseBinarySize(tt.want)
			if err != nil || back != tt.in {
				t.Fatalf("ParseBinarySize(%q) = %d, %v; want %d", tt.want, back, err, tt.in)
			}
		})
	}
}
