"""Generation: stops, seeds, batching, streaming, cancellation and errors, checked against plain ``generate``."""

from __future__ import annotations

import threading
import time

import pytest

from tweetsmith.engine.errors import ConfigError, EngineError
from tweetsmith.engine.generate import cut_at_stop, generate_samples, stream_sample
from tweetsmith.engine.models import load_model
from tweetsmith.engine.sample_record import Sample
from tweetsmith.engine.sampling import SamplingConfig

AUTHORS = ["paulg", "sama", "naval", "pmarca", "a", "b", "c", "d"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir):
    return load_model(str(tiny_llama_dir))


@pytest.fixture()
def newline_prone(tiny_llama_dir):
    """The tiny model with the newline token's (tied) embedding scaled up, so greedy text hits a newline."""
    import torch

    loaded = load_model(str(tiny_llama_dir))
    newline = loaded.tokenizer("\n", add_special_tokens=False)["input_ids"][0]
    with torch.no_grad():
        loaded.model.get_input_embeddings().weight[newline] *= 20.0
    return loaded, newline


def plain_greedy(loaded, author, max_new_tokens, text="", repetition_penalty=SamplingConfig().repetition_penalty):
    """Independent reference: transformers' own greedy generate, no stop but max_new_tokens, with the
    default repetition guard (transformers' own penalty over the prompt and the tokens so far).

    The prompt's trailing space is left to the model (as in training, it belongs to the next word's
    token), so the first token is one that begins with a space (transformers' prefix constraint, the
    allowed tokens found by decoding each) and the expected text is the decoded tokens minus that space.
    """
    import torch

    prompt = f"\\{author}- {text}"
    ids = [loaded.eot_id] + loaded.tokenizer(prompt.rstrip(" "), add_special_tokens=False)["input_ids"]
    vocab = loaded.model.get_output_embeddings().weight.shape[0]
    every = list(range(vocab))
    spaced = [
        i for i in range(len(loaded.tokenizer)) if loaded.tokenizer.decode([i]).startswith(" ") and i != loaded.eot_id
    ]

    def allowed(batch_id, so_far):
        return spaced if prompt.endswith(" ") and len(so_far) == len(ids) else every

    out = loaded.model.generate(
        torch.tensor([ids]),
        do_sample=False,
        max_new_tokens=max_new_tokens,
        eos_token_id=None,
        pad_token_id=loaded.pad_id,
        prefix_allowed_tokens_fn=allowed,
        repetition_penalty=repetition_penalty,
    )
    return out[0, len(ids) :].tolist()


def test_greedy_stops_at_the_first_newline(newline_prone):
    # Typed text after the author, so ending at the first token is allowed (without it a sample may not end
    # before it has a word: see test_a_sample_without_typed_text_never_ends_before_it_has_text).
    loaded, newline = newline_prone
    config = SamplingConfig(temperature=0, max_new_tokens=40)
    samples = generate_samples(loaded, AUTHORS, config, text="so", batch_size=3)
    checked = 0
    for author, sample in zip(AUTHORS, samples):
        reference = plain_greedy(loaded, author, 40, text="so")
        assert loaded.eot_id not in reference  # so only the newline or the length can end it
        if newline in reference:
            cut = reference.index(newline) + 1
            assert sample.new_tokens == cut
            assert sample.text == loaded.tokenizer.decode(reference[: cut - 1])
            checked += 1
        else:
            assert sample.new_tokens == 40
        assert "\n" not in sample.text
    assert checked >= 1  # the random tiny model mostly repeats the prompt's last token


def test_stops_at_end_of_text(tiny):
    import torch

    loaded = load_model(str(tiny.info.location))
    with torch.no_grad():  # make end-of-text the likeliest token after a few steps
        loaded.model.get_input_embeddings().weight[loaded.eot_id] *= 20.0
    samples = generate_samples(loaded, AUTHORS, SamplingConfig(temperature=0, max_new_tokens=40))
    ended = 0
    for author, sample in zip(AUTHORS, samples):
        reference = plain_greedy(loaded, author, 40)
        if loaded.eot_id in reference:
            assert sample.new_tokens == reference.index(loaded.eot_id) + 1
            ended += 1
    assert ended >= 3


def test_batched_greedy_equals_one_at_a_time(tiny):
    config = SamplingConfig(temperature=0, max_new_tokens=20)
    texts = ["", "The best", "hello there my friend, how"]
    for text in texts:
        batched = generate_samples(tiny, AUTHORS[:5], config, text=text, batch_size=5)
        single = [generate_samples(tiny, [a], config, text=text)[0] for a in AUTHORS[:5]]
        assert [s.text for s in batched] == [s.text for s in single]
        # and both equal transformers' own greedy, cut at the stop
    for author, sample in zip(AUTHORS[:5], generate_samples(tiny, AUTHORS[:5], config)):
        reference = plain_greedy(tiny, author, 20)[: sample.new_tokens]
        decoded = tiny.tokenizer.decode(reference, skip_special_tokens=True)
        assert sample.text == cut_at_stop(decoded[1:] if decoded.startswith(" ") else decoded)


def test_seeds_are_per_sample_and_reproducible(tiny):
    config = SamplingConfig(temperature=1.0, top_k=0, max_new_tokens=15, seed=10)
    batched = generate_samples(tiny, ["paulg"] * 6, config, batch_size=4)
    assert [s.seed for s in batched] == [10, 11, 12, 13, 14, 15]
    assert len({s.text for s in batched}) > 1  # different seeds, different samples
    # sample i regenerated alone with its recorded seed gives the same text
    for s in batched:
        alone = generate_samples(tiny, ["paulg"], config.with_changes(seed=s.seed))[0]
        assert alone.text == s.text
    again = generate_samples(tiny, ["paulg"] * 6, config, batch_size=6)
    assert [s.text for s in again] == [s.text for s in batched]


def test_top_k_1_is_greedy(tiny):
    sampled = generate_samples(tiny, AUTHORS[:4], SamplingConfig(temperature=1.3, top_k=1, max_new_tokens=15, seed=3))
    greedy = generate_samples(tiny, AUTHORS[:4], SamplingConfig(temperature=0, max_new_tokens=15))
    assert [s.text for s in sampled] == [s.text for s in greedy]


def test_sample_records_what_made_it(tiny, tiny_llama_dir):
    config = SamplingConfig(temperature=0.8, max_new_tokens=10, seed=5)
    progress = []
    samples = generate_samples(
        tiny,
        ["@paulg", "sama", "naval"],
        config,
        text="Startups",
        batch_size=2,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert progress == [(2, 3), (3, 3)]
    first = samples[0]
    assert first.author == "paulg" and first.prompt == "\\paulg- Startups" and first.user_text == "Startups"
    assert first.config == config and first.model == str(tiny_llama_dir) and first.adapter is None
    assert 1 <= first.new_tokens <= 10 and first.seconds > 0 and first.first_token_s is None
    assert first.tokens_per_s == pytest.approx(first.new_tokens / first.seconds)
    assert Sample.from_dict(first.to_dict()) == first


def test_stream_pieces_join_to_the_sample(tiny):
    config = SamplingConfig(temperature=1.0, max_new_tokens=30, seed=4)
    stream = stream_sample(tiny, "paulg", "The", config)
    pieces = list(stream)
    sample = stream.sample
    assert "".join(pieces) == sample.text and len(pieces) > 1
    assert 0 < sample.first_token_s <= sample.seconds and not sample.stopped
    # the same seed gives the same sample through the batched path
    assert generate_samples(tiny, ["paulg"], config, text="The")[0].text == sample.text


def _slow(loaded, seconds_per_step):
    def hook(module, args, kwargs):
        time.sleep(seconds_per_step)

    return loaded.model.register_forward_pre_hook(hook, with_kwargs=True)


def test_cancel_from_another_thread_ends_at_the_next_token(tiny):
    """Cancel is checked before every forward pass: after it is set, at most the pass already running ends.

    (Counted in forward passes, not timed: a busy machine slows both sides alike; at 20 ms a token on an
    idle one that is under 0.1 s.)"""
    forwards = []
    at_cancel = []

    def hook(module, args, kwargs):
        forwards.append(1)
        time.sleep(0.02)

    handle = tiny.model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        cancel = threading.Event()

        def fire():
            at_cancel.append(len(forwards))
            cancel.set()

        stream = stream_sample(
            tiny, "paulg", config=SamplingConfig(max_new_tokens=190, top_k=0, temperature=1.5), cancel=cancel
        )
        pieces = iter(stream)
        next(pieces)
        timer = threading.Timer(0.1, fire)
        timer.start()
        for _ in pieces:
            pass
        sample = stream.sample
    finally:
        handle.remove()
    assert sample.stopped and sample.new_tokens < 190
    assert len(forwards) <= at_cancel[0] + 1


def test_error_in_the_generation_thread_is_raised_to_the_consumer(tiny):
    calls = []

    def hook(module, args, kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom in forward")

    handle = tiny.model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        stream = stream_sample(tiny, "paulg", config=SamplingConfig(max_new_tokens=20, top_k=0, temperature=1.5))
        with pytest.raises(RuntimeError, match="boom in forward"):
            for _ in stream:
                pass
    finally:
        handle.remove()


def test_timeout_never_hangs(tiny):
    handle = _slow(tiny, 0.05)
    try:
        stream = stream_sample(tiny, "paulg", config=SamplingConfig(max_new_tokens=100), timeout_s=0.3)
        with pytest.raises(EngineError, match="longer than 0.3 s"):
            list(stream)  # raised, not waited for: 100 steps of 50 ms would take 5 s
    finally:
        handle.remove()


def test_prompt_longer_than_the_context_is_a_config_error(tiny):
    with pytest.raises(ConfigError, match="exceeds the model's context of 256 tokens"):
        generate_samples(tiny, ["paulg"], SamplingConfig(max_new_tokens=250), text="word " * 50)


def test_cancelled_before_start_returns_nothing(tiny):
    cancel = threading.Event()
    cancel.set()
    assert generate_samples(tiny, ["paulg"] * 3, SamplingConfig(max_new_tokens=5), cancel=cancel) == []


def test_row_sampler_draws_from_the_warped_distribution():
    import torch

    from tweetsmith.engine.decode_loop import RowSampler

    probs = torch.tensor([0.1, 0.0, 0.6, 0.3])
    sampler = RowSampler(SamplingConfig(temperature=1.0, top_k=0), [0, 1], "cpu")
    counts = torch.zeros(2, 4)
    for _ in range(4000):
        chosen = sampler.draw(torch.log(probs).repeat(2, 1), [0, 1])
        counts[0, chosen[0]] += 1
        counts[1, chosen[1]] += 1
    freq = counts / 4000
    assert freq[:, 1].sum() == 0  # a zero-probability token is never drawn
    assert torch.allclose(freq, probs.repeat(2, 1), atol=0.03)
    # top_k=2 keeps only the two likeliest, renormalized: 0.6/0.9 and 0.3/0.9
    top2 = RowSampler(SamplingConfig(temperature=1.0, top_k=2), [5], "cpu")
    drawn = torch.tensor([int(top2.draw(torch.log(probs)[None].clone(), [0])) for _ in range(3000)])
    assert set(drawn.tolist()) == {2, 3}
    assert float((drawn == 2).float().mean()) == pytest.approx(2 / 3, abs=0.04)


def test_a_row_draws_from_its_own_generator_whichever_rows_remain():
    """Rows leave the batch when they end: row 1 drawn alone must continue row 1's stream, not row 0's."""
    import torch

    from tweetsmith.engine.decode_loop import RowSampler

    scores = torch.zeros(1, 1000)
    both = RowSampler(SamplingConfig(temperature=1.0, top_k=0), [7, 8], "cpu")
    alone = RowSampler(SamplingConfig(temperature=1.0, top_k=0), [8], "cpu")
    first = both.draw(scores.repeat(2, 1), [0, 1])
    assert int(first[1]) == int(alone.draw(scores, [0])[0])
    later = [int(both.draw(scores, [1])[0]) for _ in range(5)]  # row 0 has ended
    assert later == [int(alone.draw(scores, [0])[0]) for _ in range(5)]


def test_stop_tokens_are_end_of_text_and_every_token_holding_a_line_break(tiny):
    from tweetsmith.engine.decode_loop import TokenTable

    vocab = tiny.model.get_output_embeddings().weight.shape[0]
    mask, _, _ = TokenTable.of(tiny.tokenizer, tiny.eot_id, vocab)
    breaks = "\n\r\x0b\x0c\x85\u2028\u2029"  # str.splitlines() breaks but the separators \x1c-\x1e (removed)
    expected = {i for i in range(len(tiny.tokenizer)) if any(b in tiny.tokenizer.decode([i]) for b in breaks)} | {
        tiny.eot_id
    }
    assert set(mask.nonzero().squeeze(-1).tolist()) == expected
    for one_token in ("\n", "\r", "\r\n", "\x0b", "\x0c"):
        ids = tiny.tokenizer(one_token, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and ids[0] in expected, one_token


def test_a_sample_without_typed_text_never_ends_before_it_has_text(tiny_llama_dir):
    """A model that puts most weight on "end" right away (as the tweets teach: every record ends with a
    space and then end-of-text) still gives a non-empty tweet; with typed text, ending at once is allowed."""
    import torch

    loaded = load_model(str(tiny_llama_dir))
    eot = loaded.eot_id

    def end_first(module, args, output):  # end-of-text the likeliest token everywhere
        output[..., eot] += 100.0
        return output

    loaded.model.get_output_embeddings().register_forward_hook(end_first)
    greedy = SamplingConfig(temperature=0, max_new_tokens=12)
    ids = [eot] + loaded.tokenizer("\\paulg-", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        first = int(loaded.model(torch.tensor([ids])).logits[0, -1].argmax())
    assert first == eot  # unconstrained, the sample would be empty
    for sample in generate_samples(loaded, ["paulg", "sama"], greedy) + [
        stream_sample(loaded, "paulg", "", greedy).sample
    ]:
        assert sample.text.strip() and sample.new_tokens >= 1
    typed = generate_samples(loaded, ["paulg"], greedy, text="Hello")[0]
    assert typed.new_tokens == 1 and typed.text == "" and typed.full_text == "Hello"
    sampled = generate_samples(loaded, ["paulg"] * 6, SamplingConfig(temperature=1.0, top_k=0, max_new_tokens=12))
    assert all(s.text.strip() for s in sampled)


def test_a_prompt_ending_in_a_space_gets_a_space_led_first_token(tiny_llama_dir):
    """``\\paulg- `` is encoded without its space (training puts the space inside the word's token), so the
    first token must bring it: a model that prefers to glue a token onto ``-`` (``\\paulg-x``) still
    starts a word. Without a trailing space in the prompt ("Hello") the first token is free."""
    import torch

    from tweetsmith.engine.decode_loop import TokenTable

    loaded = load_model(str(tiny_llama_dir))
    tokenizer, eot = loaded.tokenizer, loaded.eot_id
    glued = tokenizer("x", add_special_tokens=False)["input_ids"][0]
    assert not tokenizer.decode([glued]).startswith(" ")

    def glue_first(module, args, output):  # a token without a space the likeliest everywhere
        output[..., glued] += 100.0
        return output

    loaded.model.get_output_embeddings().register_forward_hook(glue_first)
    greedy = SamplingConfig(temperature=0, max_new_tokens=6)

    def first_token(prompt: str, spaced_only: bool) -> int:
        ids = [eot] + tokenizer(prompt.rstrip(" "), add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = loaded.model(torch.tensor([ids])).logits[0, -1].float()
        if spaced_only:  # independent of the table: decode every token
            vocab = logits.shape[-1]
            starts = torch.tensor([tokenizer.decode([i]).startswith(" ") and i != eot for i in range(vocab)])
            logits = logits.masked_fill(~starts, float("-inf"))
        return int(logits.argmax())

    expected = tokenizer.decode([first_token("\\paulg- ", True)])
    assert expected.startswith(" ") and expected.strip()
    for sample in (
        generate_samples(loaded, ["paulg", "paulg"], greedy)[0],
        stream_sample(loaded, "paulg", "", greedy).sample,
    ):
        assert sample.text.startswith(expected[1:])  # the prompt's own space is not repeated in the text
    spaced_typed = generate_samples(loaded, ["paulg"], greedy, text="Hello ")[0]
    assert tokenizer.decode([first_token("\\paulg- Hello ", True)]).startswith(" " + spaced_typed.text[:1])
    free = generate_samples(loaded, ["paulg"], greedy, text="Hello")[0]
    assert first_token("\\paulg- Hello", False) == glued and free.text.startswith("x")
    _, _, spaced = TokenTable.of(tokenizer, eot, loaded.model.get_output_embeddings().weight.shape[0])
    assert not bool(spaced[glued]) and not bool(spaced[eot])


def test_a_stream_cut_at_the_limit_streams_exactly_the_tweet(tiny):
    # 262 typed characters leave 18 for the sample: the cut falls inside a word for most seeds, and that word
    # must never reach the stream (a streamed piece cannot be taken back).
    typed = "so " * 87 + "a"
    cut_inside_a_word = 0
    for seed in range(8):
        stream = stream_sample(tiny, "paulg", typed, SamplingConfig(max_new_tokens=40, seed=seed, top_k=0))
        streamed = "".join(stream)
        sample = stream.sample
        assert streamed == sample.text
        assert len(typed) + len(sample.text) <= 280
        whole = generate_samples(tiny, ["paulg"], SamplingConfig(max_new_tokens=40, seed=seed, top_k=0), text=typed)[0]
        assert whole.text == sample.text  # the batched path cuts the same tweet
        cut_inside_a_word += sample.cut_at_limit and len(typed) + len(sample.text) < 279
    assert cut_inside_a_word >= 1
