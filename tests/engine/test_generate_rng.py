"""Generation leaves torch's global RNG and other threads' thread counts alone; a seed's sample is the same
alone, in a batch and streamed.

A training in the same process (the app) draws dropout masks and data order from torch's global RNG; if the
chat's generation reseeded or consumed it, the training's random stream would depend on when the user
chatted. Each row samples from its own ``torch.Generator`` instead.
"""

from __future__ import annotations

import threading

import pytest

from tweetsmith.engine.generate import generate_samples, stream_sample
from tweetsmith.engine.models import load_model
from tweetsmith.engine.sampling import SamplingConfig
from tweetsmith.engine.threads import use_threads_in_this_thread

pytestmark = pytest.mark.usefixtures("one_torch_thread")

AUTHORS = ["paulg", "sama", "pmarca", "paulg", "christine"]
CONFIGS = [
    SamplingConfig(temperature=1.0, top_k=0, max_new_tokens=16, seed=11),
    SamplingConfig(temperature=0.8, top_k=20, top_p=0.9, repetition_penalty=1.2, max_new_tokens=16, seed=1234567),
]


@pytest.fixture(scope="module")
def tiny_gpt2(tiny_gpt2_dir):
    """GPT-2 has dropout (0.1) in its config: in train mode it would draw from the global RNG."""
    loaded = load_model(str(tiny_gpt2_dir))
    assert loaded.model.config.resid_pdrop > 0
    return loaded


@pytest.mark.parametrize("config", CONFIGS, ids=["t1", "t0.8-k20-p0.9-rep"])
def test_global_rng_untouched_and_seed_same_alone_batched_streamed(tiny_gpt2, config):
    import torch

    torch.manual_seed(987)
    before = torch.random.get_rng_state().clone()
    batched = generate_samples(tiny_gpt2, AUTHORS, config, text="The best", batch_size=len(AUTHORS))
    streamed = [
        stream_sample(tiny_gpt2, a, "The best", config.with_changes(seed=config.seed + i)).sample
        for i, a in enumerate(AUTHORS)
    ]
    alone = [
        generate_samples(tiny_gpt2, [a], config.with_changes(seed=config.seed + i), text="The best")[0]
        for i, a in enumerate(AUTHORS)
    ]
    after = torch.random.get_rng_state()
    assert torch.equal(before, after), "generation changed torch's global RNG state"
    assert [s.seed for s in batched] == [config.seed + i for i in range(len(AUTHORS))]
    assert [s.text for s in batched] == [s.text for s in alone] == [s.text for s in streamed]
    assert [s.seed for s in streamed] == [s.seed for s in batched]
    assert len({s.text for s in batched}) > 1  # the seeds differ, so do the samples


def test_a_model_in_train_mode_is_sampled_without_dropout_and_left_in_train_mode(tiny_gpt2):
    import torch

    config = CONFIGS[0]
    expected = [s.text for s in generate_samples(tiny_gpt2, AUTHORS, config)]
    tiny_gpt2.model.train()
    try:
        before = torch.random.get_rng_state().clone()
        got = [s.text for s in generate_samples(tiny_gpt2, AUTHORS, config)]
        streamed = stream_sample(tiny_gpt2, AUTHORS[0], "", config).sample.text
        assert torch.equal(before, torch.random.get_rng_state())
        assert tiny_gpt2.model.training, "generation must give the model back in the mode it found it"
    finally:
        tiny_gpt2.model.eval()
    assert got == expected and streamed == expected[0]


def test_thread_count_of_one_generation_thread_only():
    """``num_threads`` of a stream sets that thread's count only: a thread already running, one started
    while it runs (a training started meanwhile) and the main thread keep torch's process-wide count."""
    import torch

    process_wide = torch.get_num_threads()
    torch.set_num_threads(3)  # distinct from 1, whatever the machine has
    seen: dict[str, object] = {}
    running_ready, chat_set, chat_may_end, started_meanwhile = (threading.Event() for _ in range(4))

    def running() -> None:  # a training thread that started before the chat
        seen["running_before"] = torch.get_num_threads()
        running_ready.set()
        chat_may_end.wait()
        seen["running_after"] = torch.get_num_threads()

    def chat() -> None:
        seen["set"] = use_threads_in_this_thread(1)
        seen["chat"] = torch.get_num_threads()
        chat_set.set()
        started_meanwhile.wait()
        seen["chat_still"] = torch.get_num_threads()

    def meanwhile() -> None:
        seen["meanwhile"] = torch.get_num_threads()
        started_meanwhile.set()

    try:
        threads = [threading.Thread(target=running)]
        threads[0].start()
        running_ready.wait()
        threads.append(threading.Thread(target=chat))
        threads[1].start()
        chat_set.wait()
        threads.append(threading.Thread(target=meanwhile))
        threads[2].start()
        threads[2].join()
        threads[1].join()
        chat_may_end.set()
        threads[0].join()
        seen["main"] = torch.get_num_threads()
    finally:
        torch.set_num_threads(process_wide)
    assert seen.pop("set") is True, "torch's bundled libgomp (omp_set_num_threads) was not found"
    assert seen == {"running_before": 3, "chat": 1, "meanwhile": 3, "chat_still": 1, "running_after": 3, "main": 3}


def test_streamed_sample_with_one_thread_is_the_same_sample(tiny_gpt2):
    import torch

    config = CONFIGS[1]
    before = torch.get_num_threads()
    one = stream_sample(tiny_gpt2, "sama", "", config, num_threads=1).sample
    assert torch.get_num_threads() == before
    assert one.text == generate_samples(tiny_gpt2, ["sama"], config)[0].text
