"""Tiny Hugging Face ``transformers`` pipelines for the tests, built here with no download.

Each model is built from a config with random weights (``torch.manual_seed``: the same weights
at every build) and each tokenizer is trained with the ``tokenizers`` library on a small corpus
made here: a WordPiece one for BERT (with ``[MASK]`` for fill-mask), a byte-level BPE one for
GPT-2. ``initializer_range`` is wide so that random models still answer decisively (a
classifier's two logits do not sit next to each other, a ``[MASK]``'s top token stands out);
configs are tiny (one layer, 16 hidden units) so that a model builds and runs in milliseconds.
"""

from __future__ import annotations

import random
from functools import cache
from typing import Any

import pandas as pd

__all__ = ["PIPELINE_TASKS", "bert_tokenizer", "build_pipeline", "gpt2_tokenizer", "texts"]

PIPELINE_TASKS = (
    "text-classification",
    "token-classification",
    "fill-mask",
    "text-generation",
    "feature-extraction",
)

_WORDS = (
    "the a cat dog bird sat ran flew on under over mat tree house good bad great terrible "
    "movie film book happy sad london paris berlin john mary anna lives works in and was is "
    "very quite not"
).split()
_MAX_LENGTH = 64


@cache
def _corpus() -> tuple[str, ...]:
    rng = random.Random(0)
    return tuple(" ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 10)))
                 for _ in range(300))


def texts(count: int = 12, *, masked: bool = False) -> pd.DataFrame:
    """``count`` short sentences of the corpus's words, as a DataFrame with one ``text``
    column; ``masked``: one word of each replaced by ``[MASK]`` (for fill-mask)."""
    rng = random.Random(1)
    rows = []
    for _ in range(count):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 9))]
        if masked:
            words[rng.randrange(len(words))] = "[MASK]"
        rows.append(" ".join(words))
    return pd.DataFrame({"text": rows})


def bert_tokenizer() -> Any:
    """A WordPiece tokenizer trained on the corpus, with BERT's special tokens."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import WordPieceTrainer
    from transformers import PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(_corpus(), WordPieceTrainer(vocab_size=120, special_tokens=special))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=_MAX_LENGTH,
    )


def gpt2_tokenizer() -> Any:
    """A byte-level BPE tokenizer trained on the corpus, GPT-2 style; its end-of-text token
    pads too (GPT-2 has no padding token of its own), so generation runs in batches."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.trainers import BpeTrainer
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(_corpus(), BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    ))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
        unk_token="<|endoftext|>", pad_token="<|endoftext|>", model_max_length=_MAX_LENGTH,
    )


def _bert_config(tokenizer: Any, **extra: Any) -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=_MAX_LENGTH, initializer_range=0.5,
        pad_token_id=tokenizer.pad_token_id, **extra,
    )


def build_model(task: str, tokenizer: Any) -> Any:
    """The task's tiny model with random weights, the same at every call."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    if task == "text-classification":
        model = tf.BertForSequenceClassification(_bert_config(
            tokenizer, num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"},
            label2id={"negative": 0, "neutral": 1, "positive": 2},
        ))
    elif task == "token-classification":
        labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
        model = tf.BertForTokenClassification(_bert_config(
            tokenizer, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        ))
    elif task == "fill-mask":
        model = tf.BertForMaskedLM(_bert_config(tokenizer))
    elif task == "feature-extraction":
        model = tf.BertModel(_bert_config(tokenizer))
    elif task == "text-generation":
        model = tf.GPT2LMHeadModel(tf.GPT2Config(
            vocab_size=len(tokenizer), n_positions=_MAX_LENGTH, n_embd=16, n_layer=1, n_head=2,
            initializer_range=0.5, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        ))
    else:
        raise ValueError(f"no tiny model for the task {task!r}; choose one of {PIPELINE_TASKS}")
    return model.eval()


def build_pipeline(task: str, **kwargs: Any) -> Any:
    """``transformers.pipeline(task, ...)`` of the task's tiny model and its tokenizer, on the
    CPU; ``kwargs`` go to ``pipeline`` (``max_new_tokens=``, ``aggregation_strategy=``, ...)."""
    import transformers as tf

    tokenizer = gpt2_tokenizer() if task == "text-generation" else bert_tokenizer()
    return tf.pipeline(task, model=build_model(task, tokenizer), tokenizer=tokenizer,
                       device="cpu", **kwargs)
