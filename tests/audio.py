"""Tiny but valid recordings of the kinds producers send, of a chosen length (what a container says).

The audio itself is silence or zeros: only the containers are checked (type from the bytes, length from the
OGG granule position, MP3 and ADTS frames, the MP4 ``mvhd``), and these are real containers that mutagen
reads as any phone's recording. ``seed`` changes the bytes (and so the sha256) but not the length.
"""

from __future__ import annotations

import io
import struct

from mutagen.ogg import OggPage

OPUS_PRE_SKIP = 312


def ogg_opus(seconds: float, seed: int = 0) -> bytes:
    """A Telegram voice note: OGG pages with OpusHead, OpusTags and one audio page ending at ``seconds``."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, OPUS_PRE_SKIP, 16000, 0, 0)
    vendor = f"ocop test {seed}".encode()
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    out = io.BytesIO()
    for sequence, (packet, position) in enumerate(
        [(head, 0), (tags, 0), (b"\xf8\xff\xfe" * 4, OPUS_PRE_SKIP + int(seconds * 48000))]
    ):
        page = OggPage()  # type: ignore[no-untyped-call]
        page.serial = 1234 + seed
        page.sequence = sequence
        page.position = position
        page.packets = [packet]
        page.first = sequence == 0
        page.last = sequence == 2
        out.write(page.write())  # type: ignore[no-untyped-call]
    return out.getvalue()


def mp3(seconds: float, seed: int = 0) -> bytes:
    """MPEG-1 Layer III frames at 128 kbit/s, 44.1 kHz (417 bytes, 1152 samples each)."""
    header = bytes([0xFF, 0xFB, 0x90, 0xC4])
    frame = header + bytes([seed % 256]) + bytes(417 - 5)
    frames = max(4, round(seconds * 44100 / 1152))
    return frame * frames


def adts_aac(seconds: float, seed: int = 0) -> bytes:
    """What Zalo sends: raw AAC-LC in ADTS frames, 16 kHz mono, 1024 samples per frame."""
    payload = bytes([seed % 256]) + bytes(99)
    length = 7 + len(payload)
    header = bytes(
        [
            0xFF,
            0xF1,  # MPEG-4, layer 00, no CRC
            (1 << 6) | (8 << 2),  # AAC LC, 16 kHz, channel configuration high bit 0
            (1 << 6) | ((length >> 11) & 0b11),  # one channel
            (length >> 3) & 0xFF,
            ((length & 0b111) << 5) | 0x1F,
            0xFC,
        ]
    )
    frames = max(4, round(seconds * 16000 / 1024))
    return (header + payload) * frames


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def m4a(seconds: float, seed: int = 0) -> bytes:
    """A phone recorder's M4A: ``ftyp``, then ``moov`` whose ``mvhd`` gives the length, and an audio track."""
    timescale = 1000
    mvhd = struct.pack(">BxxxIIII", 0, 0, 0, timescale, int(seconds * timescale))
    mvhd += struct.pack(">IH10x", 0x00010000, 0x0100) + bytes(36) + bytes(24) + struct.pack(">I", 2)
    hdlr = _box(b"hdlr", bytes(4) + bytes(4) + b"soun" + bytes(12) + b"ocop\x00")
    mdhd = _box(b"mdhd", struct.pack(">BxxxIIIIHH", 0, 0, 0, 16000, int(seconds * 16000), 0x55C4, 0))
    trak = _box(b"trak", _box(b"mdia", mdhd + hdlr))
    moov = _box(b"moov", _box(b"mvhd", mvhd) + trak)
    ftyp = _box(b"ftyp", b"M4A " + struct.pack(">I", 0) + b"M4A isommp42")
    mdat = _box(b"mdat", bytes([seed % 256]) * 64)
    return ftyp + moov + mdat
