"""Raw RFC 5322 bytes → validated `Email` model."""
from parsers.model import Address, Attachment, Automated, Email, Fields, Impact, ParseError
from parsers.parse import parse

__all__ = ["Address", "Attachment", "Automated", "Email", "Fields", "Impact", "ParseError", "parse"]
