"""serve/formats/__init__.py: ``__all__`` lists exactly the public names, as httpx checks its
own, and every one is defined in a private module of the package."""

from __future__ import annotations

import inspect
import types

import serve.formats


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name for name, value in vars(serve.formats).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert sorted(serve.formats.__all__) == sorted(public)
    assert sorted(serve.formats.__all__) == [
        "OipDatatype", "OipOutputRequest", "OipRequest", "OipTensor", "decode_mlflow",
        "decode_snowflake", "encode_mlflow", "encode_oip", "encode_snowflake", "oip_datatype",
        "oip_model_metadata", "oip_to_table", "parse_oip_request",
    ]


def test_every_exported_name_comes_from_a_private_module() -> None:
    for name in set(serve.formats.__all__) - {"OipDatatype"}:  # a Literal alias
        module = inspect.getmodule(getattr(serve.formats, name))
        assert module is not None and module.__name__.startswith("serve.formats._"), name
    assert serve.formats.OipDatatype is serve.formats._oip_types.OipDatatype
