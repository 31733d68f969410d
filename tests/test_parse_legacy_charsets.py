"""Issue 9, class 1: charset labels the codec registry does not know, or knows too narrowly.

Fixtures are written byte by byte here.  The labels and what they mean come
from the WHATWG Encoding Standard's label table (encoding.spec.whatwg.org,
as shipped by `webencodings`); the texts are ordinary support sentences
encoded with Python's codecs.
"""
from __future__ import annotations

import base64

import pytest

from parsers import parse
from parsers.charsets import codec_name, decode_bytes, decode_words


def _mail(charset: str, body: bytes, *, subject: str = "Chamado", cte: str = "8bit") -> bytes:
    return (
        b"From: Cliente <cliente@example.com>\r\n"
        b"To: suporte@example.com\r\n"
        + f"Subject: {subject}\r\n".encode("ascii")
        + b"MIME-Version: 1.0\r\n"
        + f"Content-Type: text/plain; charset={charset}\r\n".encode("ascii")
        + f"Content-Transfer-Encoding: {cte}\r\n\r\n".encode("ascii")
        + body + b"\r\n"
    )


# (label, text, how the sender's software really encoded it)
CASES = [
    # "锟斤拷" and "镕" are GBK-only characters: outside GB2312, which is
    # what Python's "gb2312" codec reads, yet Windows writes them under the gb2312 label.
    ("gb2312", "您好，镕基系统报错，请处理", "gbk"),
    ("GB2312", "發票問題 喆", "gb18030"),
    # Hebrew, logical order: the same bytes as iso-8859-8.
    ("iso-8859-8-i", "שלום, יש בעיה במערכת", "iso-8859-8"),
    # Korean Windows (Unified Hangul Code): "똠" and "햏" are not in EUC-KR.
    ("ks_c_5601-1987", "안녕하세요 똠햏 오류", "cp949"),
    # Japanese Windows: "①" and "髙" are NEC/IBM rows of windows-31j.
    ("x-sjis", "請求書①の髙橋です", "cp932"),
    ("shift_jis", "請求書①の髙橋です", "cp932"),
    ("windows-874", "สวัสดีครับ ระบบมีปัญหา", "cp874"),
    ("unicode-1-1-utf-7", "Ação necessária", "utf-7"),
    ("utf8", "Ação necessária", "utf-8"),
    ("euc-kr", "안녕하세요 똠햏", "cp949"),
]


@pytest.mark.parametrize(("label", "text", "codec"), CASES, ids=[c[0] for c in CASES])
def test_body_part_in_a_legacy_label_reads_as_the_sender_wrote(label: str, text: str, codec: str) -> None:
    email = parse(_mail(label, text.encode(codec)))
    assert email.body_text == text
    assert not any("decoded as" in d for d in email.defects), email.defects


@pytest.mark.parametrize(("label", "text", "codec"), CASES, ids=[c[0] for c in CASES])
def test_encoded_word_subject_and_name_in_a_legacy_label(label: str, text: str, codec: str) -> None:
    word = f"=?{label}?B?{base64.b64encode(text.encode(codec)).decode()}?="
    raw = _mail("us-ascii", b"x", subject=word).replace(
        b"From: Cliente", f"From: {word}".encode("ascii"))
    email = parse(raw)
    assert email.subject == text
    assert email.requester.name == text and email.requester.email == "cliente@example.com"


def test_attachment_name_in_a_legacy_label() -> None:
    name = "发票_镕.pdf"
    encoded = "".join(f"%{b:02X}" for b in name.encode("gbk"))
    raw = (
        b"From: c@example.com\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nsegue\r\n"
        b"--b\r\nContent-Type: application/pdf\r\n"
        + f"Content-Disposition: attachment; filename*=gb2312''{encoded}\r\n".encode("ascii")
        + b"Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b--\r\n"
    )
    assert [a.filename for a in parse(raw).attachments] == [name]


def test_whatwg_resolution_table() -> None:
    assert codec_name("gb2312") == "gb18030"
    assert codec_name("GBK") == "gb18030"
    assert codec_name("iso-8859-8-i") == "iso8859-8"
    assert codec_name("ks_c_5601-1987") == "cp949"
    assert codec_name("x-sjis") == "cp932"
    assert codec_name("windows-874") == "cp874"
    assert codec_name("unicode-1-1-utf-7") == "utf-7"
    assert codec_name("utf8") == "utf-8"
    # Kept from before: latin-1 is windows-1252, us-ascii stays strict ASCII.
    assert codec_name("iso-8859-1") == "cp1252"
    assert codec_name("us-ascii") == "ascii"
    # WHATWG's "replacement" labels: Python's real decoders instead.
    assert codec_name("iso-2022-kr") == "iso2022_kr"
    assert codec_name("x-no-such-charset") is None


def test_iso_2022_jp_with_nec_extensions() -> None:
    # "①" is an NEC row-13 character; plain iso2022_jp cannot decode it.
    data = "①請求".encode("iso2022_jp_2004")
    assert decode_bytes(data, "iso-2022-jp").text == "①請求"


UNLABELLED = [
    ("Здравствуйте, у нас возникла ошибка в системе, помогите пожалуйста.", "cp1251"),
    ("Καλημέρα, έχουμε πρόβλημα με το σύστημα.", "cp1253"),
    ("مرحبا، لدينا مشكلة في النظام", "cp1256"),
    ("您好，我們的系統出現了問題", "big5"),
    ("お世話になっております", "euc_jp"),
    ("お世話になっております。システムにエラーが発生しました。", "cp932"),
    ("您好，我们的系统出现了问题，请尽快处理。谢谢！", "gbk"),
    ("안녕하세요. 시스템 오류가 발생했습니다. 확인 부탁드립니다.", "cp949"),
]


@pytest.mark.parametrize(("text", "codec"), UNLABELLED, ids=[c[1] for c in UNLABELLED])
def test_unlabelled_non_western_text_is_detected_before_cp1252(text: str, codec: str) -> None:
    decoded = decode_bytes(text.encode(codec), None)
    assert decoded.text == text
    assert "detected" in (decoded.defect or "")
    # Wrongly labelled as UTF-8: same answer.
    assert decode_bytes(text.encode(codec), "utf-8").text == text


@pytest.mark.parametrize("text", [
    "Formação de preço. Não consigo emitir a nota fiscal, está dando erro na integração.",
    "Verão", "Ação", "Señor, la facturación electrónica no funciona. ¿Pueden ayudarme?",
    "Grüße aus München, Größe", "“Olá” – relatório €",
])
def test_unlabelled_western_text_stays_windows_1252(text: str) -> None:
    decoded = decode_bytes(text.encode("cp1252"), None)
    assert decoded.text == text and "cp1252" in (decoded.defect or "")


def test_encoded_word_gbk_split_across_words() -> None:
    data = "镕基".encode("gbk")
    words = " ".join(f"=?gb2312?B?{base64.b64encode(data[i:i + 1]).decode()}?=" for i in range(len(data)))
    assert decode_words(words) == "镕基"


# After Kopano's inetmapi test mails (github.com/Kopano-dev/kopano-core,
# inetmapi/tests/mails/gb2312_18030.eml and encoded-word-split.eml), whose
# expected values are in inetmapi/tests/test_charset.py.
def test_gb2312_labelled_names_with_gbk_characters() -> None:
    raw = (b"From: =?gb2312?B?wbq1durJ?= <some.address@some.domain>\n"
           b"To: '=?gb2312?B?wdaRY8PA?=' <other.address@some.domain>\n"
           b"Subject: =?gb2312?B?13jIoTogPz/FxT8/yfo/YQ==?=\n\nbodytext\n")
    email = parse(raw)
    assert email.requester.name == "梁祐晟"
    assert email.subject == "讀取: ??排??生?a"
    assert not any("decoded as" in d for d in email.defects)


def test_utf16_encoded_words_split_mid_character() -> None:
    value = ("=?utf-8?q?=e2?==?utf-8?q?=98?==?utf-8?q?=ba?= "
             "=?utf-16?q?=fe=ff=00=20=00=76=01?==?utf-16?q?=73=00=2e=00=20=00?=")
    assert decode_words(value) == "☺ vų. "


def test_truncated_multibyte_tail_keeps_the_rest() -> None:
    decoded = decode_bytes("请尽快处理".encode("gbk")[:-1], "gb2312")
    assert decoded.text == "请尽快处" and "incomplete" in (decoded.defect or "")
    # A UTF-8 label on windows-1252 text ending in an accent: the accent is kept.
    assert decode_bytes("Avó".encode("cp1252"), "utf-8").text == "Avó"


@pytest.mark.parametrize("meta", [
    '<meta charset="windows-1251">',
    '<meta http-equiv="Content-Type"\ncontent="text/html; charset=windows-1251">',
])
def test_html_part_without_mime_charset_reads_its_meta_charset(meta: str) -> None:
    html = f"<html><head>{meta}</head><body><p>Здравствуйте</p></body></html>".encode("cp1251")
    raw = (b"From: c@example.com\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n" + html + b"\r\n")
    email = parse(raw)
    assert email.body_text == "Здравствуйте"
    assert not any("decoded as" in d for d in email.defects)


@pytest.mark.parametrize(("text", "codec"), [
    ("发票问题请尽快处理", "gbk"),          # also valid windows-949: half Hanja there
    ("請求書の件です", "cp932"),
    ("안녕하세요 오류", "cp949"),
    ("Счет фактура на оплату", "cp1251"),
])
def test_raw_8bit_subject_in_a_legacy_charset(text: str, codec: str) -> None:
    email = parse(b"From: c@example.com\nSubject: " + text.encode(codec) + b"\n\nx\n")
    assert email.subject == text
    assert any("(detected)" in d for d in email.defects)


def test_raw_8bit_letters_inside_a_q_encoded_word() -> None:
    # stalwart legacy/024.eml in the shared corpus: an old mailer put a raw
    # Latin-1 "ö" inside the Q word; it read "FrÃ¶sche" before issue 9.
    raw = b"From: c@example.com\nSubject: =?iso-8859-1?Q?Die_Hasen_und_die_Fr\xf6sche?=\n\nx\n"
    assert parse(raw).subject == "Die Hasen und die Frösche"


@pytest.mark.parametrize(("text", "codec"), [
    ("您好，我们的系统出现了问题，请尽快处理。谢谢！", "gbk"),
    ("Здравствуйте, у нас возникла ошибка в системе", "cp1251"),
])
def test_non_western_text_under_a_western_label(text: str, codec: str) -> None:
    # Broken webmail labels everything iso-8859-1; the bytes cannot be Western text.
    email = parse(_mail("iso-8859-1", text.encode(codec)))
    assert email.body_text == text
    assert any("reads as" in d and "(detected)" in d for d in email.defects)
