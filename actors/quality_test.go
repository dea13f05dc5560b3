package actors

import (
	"testing"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

func TestScoreQuality(t *testing.T) {
	tests := []struct {
		name string
		w    QualityWindow
		want livekit.ConnectionQuality
		// score bounds, inclusive
		lo, hi float32
	}{
		{"no packets yet", QualityWindow{}, livekit.ConnectionQuality_EXCELLENT, 4.5, 4.5},
		{"clean", QualityWindow{Expected: 250}, livekit.ConnectionQuality_EXCELLENT, 4.5, 4.5},
		{"too few packets to judge", QualityWindow{Expected: 5, Lost: 3}, livekit.ConnectionQuality_EXCELLENT, 4.5, 4.5},
		{"1% loss", QualityWindow{Expected: 1000, Lost: 10}, livekit.ConnectionQuality_EXCELLENT, 4.2, 4.45},
		{"2% loss", QualityWindow{Expected: 1000, Lost: 20}, livekit.ConnectionQuality_EXCELLENT, 4.0, 4.3},
		{"5% loss", QualityWindow{Expected: 1000, Lost: 50}, livekit.ConnectionQuality_GOOD, 3.3, 3.8},
		{"10% loss", QualityWindow{Expected: 1000, Lost: 100}, livekit.ConnectionQuality_POOR, 2.3, 3.0},
		{"20% loss", QualityWindow{Expected: 250, Lost: 50}, livekit.ConnectionQuality_POOR, 1.5, 2.2},
		{"everything lost", QualityWindow{Expected: 250, Lost: 250}, livekit.ConnectionQuality_POOR, 1, 1.3},
		{"lost above expected is clamped", QualityWindow{Expected: 20, Lost: 40}, livekit.ConnectionQuality_POOR, 1, 1.3},
		{"small jitter is free", QualityWindow{Expected: 250, JitterMs: 8}, livekit.ConnectionQuality_EXCELLENT, 4.5, 4.5},
		{"50 ms jitter", QualityWindow{Expected: 250, JitterMs: 50}, livekit.ConnectionQuality_EXCELLENT, 4.0, 4.4},
		{"100 ms jitter", QualityWindow{Expected: 250, JitterMs: 100}, livekit.ConnectionQuality_GOOD, 3.2, 3.5},
		{"jitter and loss add up", QualityWindow{Expected: 1000, Lost: 20, JitterMs: 60}, livekit.ConnectionQuality_GOOD, 3.2, 3.5},
		{"stalled", QualityWindow{Stalled: true}, livekit.ConnectionQuality_LOST, 1, 1},
		{"stalled wins over counters", QualityWindow{Expected: 100, Stalled: true}, livekit.ConnectionQuality_LOST, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			score, q := ScoreQuality(tt.w)
			if q != tt.want || score < tt.lo || score > tt.hi {
				t.Errorf("ScoreQuality(%+v) = %.2f %s, want %s with score in [%.2f, %.2f]", tt.w, score, q, tt.want, tt.lo, tt.hi)
			}
		})
	}
}

// More loss never scores better.
func TestScoreQualityMonotonic(t *testing.T) {
	prevScore, prevQ := ScoreQuality(QualityWindow{Expected: 1000})
	for lost := uint64(1); lost <= 1000; lost++ {
		score, q := ScoreQuality(QualityWindow{Expected: 1000, Lost: lost})
		if score > prevScore || worse(prevQ, q) {
			t.Fatalf("%d lost: %.2f %s, better than %d lost: %.2f %s", lost, score, q, lost-1, prevScore, prevQ)
		}
		prevScore, prevQ = score, q
	}
}

func TestWorse(t *testing.T) {
	order := []livekit.ConnectionQuality{
		livekit.ConnectionQuality_LOST, livekit.ConnectionQuality_POOR,
		livekit.ConnectionQuality_GOOD, livekit.ConnectionQuality_EXCELLENT,
	}
	for i, a := range order {
		for j, b := range order {
			if got := worse(a, b); got != (i < j) {
				t.Errorf("worse(%s, %s) = %v", a, b, got)
			}
		}
	}
}
