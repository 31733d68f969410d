"""Bytes → text with the declared charset first and honest fallbacks.

Mail in the wild lies about its charset: Outlook labels windows-1252 text as
iso-8859-1, iPhones send raw 8-bit Latin-1 with no label, Windows Chinese
mail says gb2312 and means GBK, and headers arrive as raw 8-bit bytes
although RFC 5322 forbids it.  The rule:

1. the declared label, resolved the way browsers and mail clients resolve
   it: the WHATWG Encoding Standard's label table (`webencodings`), so
   gb2312 reads as GBK/GB18030, ks_c_5601-1987 as windows-949,
   iso-8859-8-i as iso-8859-8, x-sjis as windows-31j; Python's codec
   registry only for labels WHATWG does not know; then the vendor
   supersets of that label (NEC rows in iso-2022-jp, ...);
2. UTF-8, then UTF-8 with stray windows-1252 bytes (a reply quoting
   windows-1252 text under UTF-8 text);
3. when the bytes cannot be Western text, the detector (`charset-normalizer`);
4. windows-1252, then Latin-1, which decodes any byte string, so nothing
   here ever raises and no silent U+FFFD appears when some decoding fits.

Every step past the declared label, and every mojibake repair
(`parsers.mojibake`), is reported in `Decoded.defect`.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re
from functools import lru_cache
from typing import NamedTuple

import webencodings

from parsers.iso2022jp import CODEC as ISO2022JP_MS
from parsers.mojibake import DEFECT as MOJIBAKE
from parsers.mojibake import repair

# WHATWG maps these labels to windows-1252: in practice the 0x80-0x9F range
# in "latin-1" mail is always cp1252 punctuation (curly quotes, dashes, €),
# never C1 control characters.
_AS_CP1252 = {"iso8859-1", "latin-1", "cp1252"}
# Where Python's own codec is the better reading of a label than WHATWG's:
# strict ASCII (WHATWG reads us-ascii as windows-1252; strict ASCII lets the
# UTF-8 fallback catch the common "us-ascii" label on UTF-8 text), UTF-7
# (WHATWG leaves it out, mail clients decode it) and utf-16 (WHATWG assumes
# little-endian, Python's codec honours the BOM).
_PYTHON_FIRST = {"ascii", "utf-7", "utf-16"}
# The WHATWG GBK decoder is the gb18030 decoder (four-byte sequences too).
_OVERRIDES = {"gbk": "gb18030"}
# Vendor extensions senders use under the base label (NEC/IBM rows in
# iso-2022-jp, JIS X 0213 in euc-jp): tried when the base codec fails, before
# any guessing, because they are a correct decoding of the declared label.
_SUPERSETS = {
    # Last: the Microsoft variant Outlook writes under this label (parsers.iso2022jp).
    "iso2022_jp": ("iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_3", "iso2022_jp_2004", ISO2022JP_MS),
    "euc_jp": ("euc_jis_2004", "cp932"),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "cp932": ("shift_jis_2004",),
    "big5": ("big5hkscs", "cp950"),
    "big5hkscs": ("cp950",),
    "euc_kr": ("cp949",),
}
_NO_CHARSET = {"unknown-8bit", "x-unknown", "unknown", "default", "8bit"}
# Detector answers we take: charsets real mail is written in that cannot be
# mistaken for Western text.  The detector is weak on short Latin text
# (Portuguese comes back as cp1250 or cp1006), so Western answers are ignored.
_DETECTABLE = frozenset({
    "gb18030", "gbk", "gb2312", "big5", "big5hkscs", "cp932", "shift_jis", "euc_jp", "iso2022_jp",
    "euc_jis_2004", "shift_jis_2004",
    "cp949", "euc_kr", "cp1251", "koi8_r", "koi8_u", "iso8859_5", "cp1253", "iso8859_7",
    "cp1255", "iso8859_8", "cp1256", "iso8859_6", "cp874", "tis_620",
})
_HIGH_RUN = re.compile(rb"[\x80-\xff]{3,}")
_HIGH = re.compile(rb"[\x80-\xff]")
# The encoded text may end in one literal "?" ("=?utf-8?Q?Certifica=C3=A7=C3=A3??=",
# Roundcube #1488232): mailers write it, and "??=" can only close the word.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*?\??)\?=")
# A Q word that ends inside an escape, continued by the next word of the same
# charset ("=?utf-8?Q?Certifica=?= =?utf-8?Q?C3=A7?="): one word split in two.
_SPLIT_WORDS = re.compile(r"=\?([^?\s]+)\?(q)\?([^?]*?=[0-9a-f]?)\?=[ \t\r\n]*=\?\1\?q\?", re.IGNORECASE)
_BETWEEN_WORDS = re.compile(r"[ \t\r\n]+")
_SPLIT_ESCAPE = re.compile(r"(=[0-9A-Fa-f]?)[ \t\r\n]+(?=[0-9A-Fa-f])")


# <meta charset="x"> or <meta http-equiv="Content-Type" content="text/html; charset=x">
# in the first 1024 bytes (the WHATWG prescan's window).
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:()-]+)", re.IGNORECASE)


def meta_charset(html: bytes) -> str | None:
    """The charset an HTML document declares for itself, if a known one."""
    match = _META_CHARSET.search(html[:1024])
    if match is None:
        return None
    label = match.group(1).decode("ascii")
    return label if codec_name(label) else None


class Decoded(NamedTuple):
    text: str
    # Why the declared charset was not used, or None when it was.
    defect: str | None = None


@lru_cache(maxsize=256)
def codec_name(label: str | None) -> str | None:
    """Python's codec name for a MIME charset label (WHATWG rules first), or None if unknown."""
    if not label:
        return None
    label = label.strip().strip('"').strip().lower()
    if label in _NO_CHARSET:
        return None
    try:
        python_name: str | None = codecs.lookup(label).name
    except (LookupError, ValueError):
        python_name = None
    name = python_name if python_name in _PYTHON_FIRST else None
    if name is None:
        encoding = webencodings.lookup(label)
        # WHATWG's "replacement" labels (iso-2022-kr, hz-gb-2312, ...) have
        # real Python codecs, which mail clients use too.
        if encoding is not None and encoding.name != "replacement":
            name = encoding.codec_info.name
    name = name or python_name or _respelled(label)
    if name is None:
        return None
    name = _OVERRIDES.get(name, name)
    return "cp1252" if name in _AS_CP1252 else name


# Labels that neither table knows but that name a real charset in another
# spelling: "win-1257", "windows1252", "cp-850", "8859-1", "latin 2",
# "utf8mb4" (MySQL), "koi8r".  Matched on the label with "x-" and separators
# removed; anything else stays unknown.
_RESPELLINGS = (
    (re.compile(r"(?:win|windows|cp|ms|ansi|dos|ibm)(\d{3,4})"), r"cp\1"),
    (re.compile(r"(?:iso)?8859(\d{1,2})"), r"iso8859-\1"),
    (re.compile(r"(?:iso)?latin(\d{1,2})"), r"latin\1"),
    (re.compile(r"utf8(?:mb[34])?"), "utf-8"),
    (re.compile(r"koi8([ru])"), r"koi8-\1"),
)


def _respelled(label: str) -> str | None:
    compact = re.sub(r"[-_ .]", "", label.removeprefix("x-"))
    for pattern, replacement in _RESPELLINGS:
        match = pattern.fullmatch(compact)
        if match is None:
            continue
        try:
            return codecs.lookup(match.expand(replacement)).name
        except LookupError:
            return None
    encoding = webencodings.lookup(compact)
    if encoding is not None and encoding.name != "replacement":
        return encoding.codec_info.name
    return None


def decode_bytes(data: bytes, declared: str | None = None) -> Decoded:
    """Decode `data`: declared charset, UTF-8, detection, windows-1252, then Latin-1.

    Then mojibake the sender's software wrote is repaired when the repair
    is unambiguous (`parsers.mojibake`), and the defect says so.
    """
    decoded = _decode(data, declared)
    text, repaired = repair(decoded.text)
    if not repaired:
        return decoded
    return Decoded(text, f"{decoded.defect}; {MOJIBAKE}" if decoded.defect else MOJIBAKE)


def _decode(data: bytes, declared: str | None) -> Decoded:
    codec = codec_name(declared)
    if codec is not None:
        for candidate in (codec, *_SUPERSETS.get(codec, ())):
            try:
                text = data.decode(candidate)
                if candidate in _WESTERN and not data.isascii():
                    relabelled = _not_western(data, declared)
                    if relabelled is not None:
                        return relabelled
                return Decoded(text)
            except UnicodeDecodeError as error:
                if (candidate != "utf-8" and error.start >= len(data) - 3 and error.end == len(data)
                        and error.start > 0):
                    # Only the last character of a multi-byte charset is cut
                    # off (a truncated part, an encoded-word split
                    # mid-character): the rest is right.  (UTF-8 is left to
                    # the stray-byte reading: a lone "ó" at the end of text
                    # mislabelled UTF-8 looks the same.)
                    try:
                        text = data[: error.start].decode(candidate)
                    except (UnicodeDecodeError, LookupError):
                        continue
                    return Decoded(text, f"incomplete {declared} character at the end dropped")
            except LookupError:
                pass
            except Exception:  # a few exotic codecs raise other errors on bad input
                pass
    if data.isascii():
        return Decoded(data.decode("ascii"), _defect(declared, codec, "ascii"))
    try:
        return Decoded(data.decode("utf-8"), _defect(declared, codec, "utf-8"))
    except UnicodeDecodeError:
        pass
    if _mostly_utf8(data):
        # A reply that quotes windows-1252 text under new UTF-8 text, or a
        # stray byte in UTF-8: each part read as what it is.
        return Decoded(data.decode("utf-8", _STRAY_BYTES), _defect(declared, codec, "utf-8 with stray windows-1252 bytes"))
    detected = detect(data)
    if detected is not None:
        return Decoded(data.decode(detected), _defect(declared, codec, f"{detected} (detected)"))
    for fallback in ("cp1252", "latin-1"):
        try:
            text = data.decode(fallback)
        except UnicodeDecodeError:
            continue
        return Decoded(text, _defect(declared, codec, fallback))
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


# Single-byte Western labels decode any bytes, so a wrong one never fails.
_WESTERN = frozenset({"cp1252", "iso8859-15", "cp1250", "iso8859-2"})


def _not_western(data: bytes, declared: str | None) -> Decoded | None:
    """Text under a Western label that is really Cyrillic, Greek or CJK (broken webmail).

    Only when the bytes cannot be Western (see `detect`) and are not UTF-8
    (mislabelled UTF-8 is the mojibake repair's case).
    """
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    if _mostly_utf8(data):
        return None
    detected = detect(data)
    if detected is None:
        return None
    return Decoded(data.decode(detected), f"text labelled {declared} reads as {detected} (detected)")


def _stray_as_cp1252(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    chunk = error.object[error.start:error.end]
    return "".join(bytes([b]).decode("cp1252", "ignore") or chr(b) for b in chunk), error.end


_STRAY_BYTES = "bso-stray-cp1252"
codecs.register_error(_STRAY_BYTES, _stray_as_cp1252)


def _mostly_utf8(data: bytes) -> bool:
    """Enough valid UTF-8 characters among the invalid bytes to be UTF-8 with strays.

    A two-byte sequence counts only when it decodes to a Latin letter or
    sign: windows-1252 text holds such pairs by chance ("Ó”" is D3 94, a
    Cyrillic letter in UTF-8); three- and four-byte sequences are no chance.
    """
    text = data.decode("utf-8", "replace")
    bad = good = 0
    for char in text:
        if char == "\ufffd":
            bad += 1
        elif char > "\u07ff" or "\xa0" <= char <= "\u024f":
            good += 1
    return (good >= 2 and 2 * good >= bad) or (good >= 1 and bad <= good)


def detect(data: bytes) -> str | None:
    """The charset of 8-bit text that cannot be Western, by charset-normalizer; else None.

    Western text has its accented letters one or two at a time between
    ASCII ones ("ação"); Cyrillic, Greek, Hebrew or CJK text read as
    windows-1252 is mostly runs of three or more 8-bit bytes.  Only then is
    the detector asked, and only its non-Western answers are taken.
    """
    high = len(_HIGH.findall(data))
    if high < 8:  # four CJK characters; less is a guess
        return None
    in_runs = sum(len(run) for run in _HIGH_RUN.findall(data))
    if in_runs * 2 < high:
        return None
    try:
        from charset_normalizer import from_bytes  # on first need: rare, and slow to import

        matches = from_bytes(data)
    except Exception:  # the detector must never break parsing
        return None
    plausible: list[tuple[str, str]] = []
    for match in matches:
        name = codecs.lookup(match.encoding).name.replace("-", "_")
        if name in _DETECTABLE:
            try:
                text = data.decode(match.encoding)
            except (UnicodeDecodeError, LookupError):
                continue
            if _plausible(name, text):
                plausible.append((name, match.encoding))
    # Japanese first: its kana sit in byte rows that Chinese and Korean text
    # hardly use, so a reading with kana is the strongest sign there is.
    for name, encoding in plausible:
        if name in _JAPANESE:
            return encoding
    return plausible[0][1] if plausible else None


_JAPANESE = frozenset({"cp932", "shift_jis", "euc_jp", "iso2022_jp", "euc_jis_2004", "shift_jis_2004"})
_HANGUL = re.compile("[\uac00-\ud7a3]")
# Full-width kana: Chinese bytes read as windows-31j come out as half-width kana.
_KANA = re.compile("[\u3040-\u30ff]")
_ANY_KANA = re.compile("[\u3040-\u30ff\uff66-\uff9f]")
_IDEOGRAPH = re.compile("[\u4e00-\u9fff]")


def _plausible(name: str, text: str) -> bool:
    """The CJK charsets share byte ranges; the script mix tells them apart.

    Korean is written mostly in Hangul (Chinese bytes read as Korean come out
    half Hanja); Japanese always has kana among its kanji; Chinese has no
    kana and no Hangul.
    """
    if name in ("cp949", "euc_kr"):
        hangul, hanja = len(_HANGUL.findall(text)), len(_IDEOGRAPH.findall(text))
        return hangul >= 4 * hanja
    if name in _JAPANESE:
        return bool(_KANA.search(text))
    if name in ("gb18030", "gbk", "gb2312", "big5", "big5hkscs"):
        return not _HANGUL.search(text) and not _ANY_KANA.search(text)
    return True


def _defect(declared: str | None, codec: str | None, used: str) -> str | None:
    if declared and codec is None:
        return f"unknown charset {declared!r}, decoded as {used}"
    if declared:
        return f"text is not valid {declared}, decoded as {used}"
    if used != "ascii":
        return f"8-bit text without a charset, decoded as {used}"
    return None


def unescape_header(value: str) -> Decoded:
    """A compat32 header string whose raw 8-bit bytes hide as surrogates → real text.

    The stdlib keeps undecodable header bytes as lone surrogates
    (surrogateescape); turn them back into bytes and decode those properly.
    """
    try:
        value.encode("utf-8")
        return Decoded(value)
    except UnicodeEncodeError:
        pass
    raw = value.encode("utf-8", "surrogateescape")
    decoded = decode_bytes(raw, "utf-8")
    defect = "raw 8-bit bytes in a header" + (f" ({decoded.defect})" if decoded.defect else "")
    return Decoded(decoded.text, defect)


def decode_words(value: str, defects: list[str] | None = None) -> str:
    """Decode RFC 2047 encoded-words in an (unfolded) header value.

    Whitespace between two adjacent encoded-words is dropped (RFC 2047 §6.2),
    and adjacent words in the same charset are joined as bytes before
    decoding, so a multi-byte character split across two words survives.
    """
    if "=?" not in value:
        return value
    joined = 1
    while joined:
        value, joined = _SPLIT_WORDS.subn(r"=?\1?\2?\3", value)
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            decoded = decode_bytes(b"".join(pending), pending_charset)
            if decoded.defect and defects is not None:
                defects.append(f"encoded-word: {decoded.defect}")
            out.append(decoded.text)
        pending, pending_charset = [], None

    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos:match.start()]
        if gap and not (pending and _BETWEEN_WORDS.fullmatch(gap)):
            flush()
            out.append(gap)
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 language suffix
        data = _word_bytes(match.group(2), match.group(3), charset)
        if data is None:  # not decodable: keep the text as written
            flush()
            out.append(match.group(0))
        else:
            if pending and charset.lower() != (pending_charset or "").lower():
                flush()
            pending.append(data)
            pending_charset = charset
        pos = match.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


def _word_bytes(encoding: str, text: str, charset: str) -> bytes | None:
    if encoding in "bB":
        cleaned = re.sub(r"[^A-Za-z0-9+/]", "", text)
        if not cleaned and text.strip("="):
            return None
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return None
    if " " in text or "\t" in text:
        # A fold inside an escape ("=C3=B6=C\r\n 3=B5", Sparrow): the white
        # space cannot be text there.  Elsewhere a raw space is kept: broken
        # encoders write spaces instead of "_", and they mean spaces.
        text = _SPLIT_ESCAPE.sub(r"\1", text)
    if not text.isascii():
        # Raw 8-bit letters inside a Q word (old mailers): the header was
        # already decoded to text, so they go back to bytes in the word's own
        # charset, not as UTF-8 (which would read "Frösche" as "FrÃ¶sche").
        codec = codec_name(charset)
        try:
            return quopri.decodestring(text.encode(codec or "utf-8", "surrogateescape"), header=True)
        except (UnicodeEncodeError, LookupError):
            pass
    return quopri.decodestring(text.encode("utf-8", "surrogateescape"), header=True)
