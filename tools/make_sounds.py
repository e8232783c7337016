"""Write the notification sounds (resources/sounds/*.wav): short, small, generated, no licence."""

from __future__ import annotations

import math
import struct
import sys
import wave
from pathlib import Path

RATE = 22_050
OUT = Path(__file__).resolve().parents[1] / "resources" / "sounds"
SOUNDS = {
    "message.wav": ((880.0, 0.09), (1318.5, 0.16)),  # a soft two-note chime
    "booking.wav": ((659.3, 0.09), (830.6, 0.09), (987.8, 0.2)),  # three rising notes
}


def tone(frequency: float, seconds: float, volume: float = 0.45) -> list[int]:
    """A sine note with a quick attack and an exponential fade (no clicks)."""
    count = int(RATE * seconds)
    samples = []
    for i in range(count):
        t = i / RATE
        envelope = min(1.0, i / (RATE * 0.005)) * math.exp(-4.0 * t / seconds)
        samples.append(int(32767 * volume * envelope * math.sin(2 * math.pi * frequency * t)))
    return samples


def write(name: str, notes: tuple[tuple[float, float], ...]) -> Path:
    samples = [s for frequency, seconds in notes for s in tone(frequency, seconds)]
    path = OUT / name
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, notes in SOUNDS.items():
        path = write(name, notes)
        print(f"{path}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
