"""The data converter every Temporal client and worker of the project uses: pydantic models as JSON, encrypted."""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from runtime.codec import EncryptionCodec, KeyRing


def data_converter(keys: KeyRing | None = None) -> DataConverter:
    """The converter for `keys`: with them every payload is AES-GCM encrypted (see runtime/codec.py) and
    failure messages and stack traces move into an encrypted payload too, since reasons can quote user output.
    Without keys (only when plaintext payloads were explicitly allowed, or to read raw histories) payloads are
    plain JSON."""
    if keys is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
