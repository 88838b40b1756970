"""Make the speech a load run's callers stream: G.711 u-law RTP (payload 0, 20 ms packets) in a
pcap for sipp's ``play_pcap_audio``.

The speech is espeak-ng's (Debian's espeak-ng, as the IVR prompts use), resampled by sox to
8 kHz and encoded to u-law, repeated to the length asked. sipp rewrites the addresses and ports
when it plays the file; only the payload and the timing matter.

    .venv/bin/python bench/sipp/speech_pcap.py out.pcap --seconds 24
"""

from __future__ import annotations

import argparse
import struct
import subprocess
import tempfile
from pathlib import Path

TEXT = ("Hello, this is a citizen calling the hotline. The street light outside number twelve has been "
        "broken for three weeks and the pavement is dark at night. Could someone from the district come "
        "and repair it, please? I can be reached at this number during the day. Thank you very much.")
PACKET = 160  # bytes of u-law per 20 ms


def speech_ulaw(seconds: float, text: str = TEXT) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        wav, ul = Path(tmp) / "speech.wav", Path(tmp) / "speech.ul"
        subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(wav), text], check=True,
                       capture_output=True)
        subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", "-t", "ul", str(ul)], check=True,
                       capture_output=True)
        once = ul.read_bytes()
    want = int(seconds * 8000) // PACKET * PACKET
    return (once * (want // len(once) + 1))[:want]


def write_pcap(path: Path, ulaw: bytes, ssrc: int = 0x4C4F4144) -> int:
    """Ethernet/IPv4/UDP/RTP packets 20 ms apart; returns the number of packets."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # pcap header, DLT_EN10MB
    count = len(ulaw) // PACKET
    for n in range(count):
        rtp = struct.pack("!BBHII", 0x80, 0x80 if n == 0 else 0x00, n & 0xFFFF, n * PACKET, ssrc)
        payload = rtp + ulaw[n * PACKET:(n + 1) * PACKET]
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        frame = b"\0" * 12 + b"\x08\x00" + ip + udp
        usec = n * 20_000
        out.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return count


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def make(path: Path, seconds: float) -> Path:
    write_pcap(path, speech_ulaw(seconds))
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--seconds", type=float, default=24.0)
    args = p.parse_args()
    make(args.out, args.seconds)
    print(f"{args.out}: {args.seconds:.0f} s of G.711 u-law speech")


if __name__ == "__main__":
    main()
