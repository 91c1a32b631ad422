"""`llmtuner chat` on the real hf engine (the embedded model with a random LoRA adapter, on CPU): piped sessions,
the commands, multi-turn history, Ctrl-C during an answer, a full context, the safety modes, and greedy answers
identical to `llmtuner eval`'s predictions for the same questions."""

import asyncio
import io
import json
import re
import subprocess
import sys

import pytest
from conftest import ROOT, random_lora_adapter
from run_helpers import child_env

from llmtuner.hparams import parse_eval_args
from llmtuner.hparams.serve_parser import parse_serve_args
from llmtuner.serve import chat as chat_module
from llmtuner.serve.chat import run_chat
from llmtuner.serve.handle import RequestHandle
from llmtuner.serve.prompts import render_prompt
from llmtuner.serve.requests import Completion, Event, GenerationRequest, SamplingOptions

QUESTIONS = ["头痛发热三天怎么办？", "孕妇能用红花吗？", "失眠多梦如何调理？"]
MAX_NEW_TOKENS = 10


@pytest.fixture(scope="module")
def lora_adapter(tmp_path_factory, tiny_model_dir):
    """A LoRA adapter with non-zero weights, so every question gets its own answer."""
    return random_lora_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "lora", seed=1, rank=12, alpha=64,
                               targets=("q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"))


def chat_argv(adapter, **settings):
    values = {"model_name_or_path": "embedded", "adapter_name_or_path": adapter, "template": "shuzhiqihuang",
              "max_new_tokens": MAX_NEW_TOKENS, **settings}
    return [token for key, value in values.items() for token in (f"--{key}", str(value))]


class SharedEngine:
    """One loaded engine for the module's sessions; the chat's close() leaves it running."""

    def __init__(self, engine):
        self._engine = engine

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def close(self):
        pass


@pytest.fixture(scope="module")
def engine(lora_adapter):
    from llmtuner.serve.engine import load_serving_engine

    loaded = load_serving_engine(parse_serve_args("chat", chat_argv(lora_adapter)))
    yield SharedEngine(loaded)
    loaded.close()


def session(engine, monkeypatch, lines, adapter, stdout=None, **settings):
    """Run a piped chat on the shared engine; returns what it printed."""
    monkeypatch.setattr(chat_module, "load_serving_engine", lambda config: engine)
    out = stdout or io.StringIO()
    run_chat(parse_serve_args("chat", chat_argv(adapter, **settings)), stdin=io.StringIO("".join(f"{line}\n" for line in lines)),
             stdout=out)
    return out.getvalue()


def answers_in(output):
    return re.findall(r"^Assistant: (.*)$", output, re.MULTILINE)


def generate(engine, system, turns):
    """The answer to a conversation rendered directly by the template, as the evaluator renders it."""
    async def run():
        ids = render_prompt(engine.template, engine.tokenizer, system, turns, None, True)
        handle = engine.submit(GenerationRequest(ids, SamplingOptions(max_new_tokens=MAX_NEW_TOKENS)))
        return await handle.result()

    return asyncio.run(run()).text


def test_piped_session_with_commands(engine, monkeypatch, lora_adapter):
    output = session(engine, monkeypatch, ["/system", "/system 你是一名儿科医生。", "/think on", "/nonsense", "",
                                           QUESTIONS[0], "/clear", "/system default", QUESTIONS[1], "/exit", QUESTIONS[2]],
                     lora_adapter)
    assert output.startswith("llmtuner chat: model embedded, template shuzhiqihuang, context ")
    assert "TCM safety check: annotate" in output and "/think on|off" in output
    assert "System prompt (the default): 你是数智岐黄" in output
    assert "System prompt: 你是一名儿科医生。 (applies to the whole conversation)." in output
    assert "has no thinking block, so this changes nothing" in output
    assert "Unknown command '/nonsense'" in output
    assert "The conversation is cleared" in output and output.endswith("Bye.\n")
    first, second = answers_in(output)  # /exit ends the chat: the third question is never answered
    assert first == generate(engine, "你是一名儿科医生。", [{"role": "user", "content": QUESTIONS[0]}])
    assert second == generate(engine, None, [{"role": "user", "content": QUESTIONS[1]}])  # cleared, default system


def test_the_second_answer_is_the_answer_to_the_whole_conversation(engine, monkeypatch, lora_adapter):
    first, second = answers_in(session(engine, monkeypatch, QUESTIONS[:2], lora_adapter))
    conversation = [{"role": "user", "content": QUESTIONS[0]}, {"role": "assistant", "content": first},
                    {"role": "user", "content": QUESTIONS[1]}]
    assert second == generate(engine, None, conversation)
    assert second != generate(engine, None, conversation[2:])  # the history did change the answer


def test_greedy_answers_equal_the_evaluators_predictions(engine, monkeypatch, lora_adapter, tmp_path):
    from llmtuner.eval.evaluator import run_evaluation

    (tmp_path / "questions.json").write_text(json.dumps([{"instruction": q, "output": "参考答案"} for q in QUESTIONS],
                                                        ensure_ascii=False), encoding="utf-8")
    (tmp_path / "dataset_info.json").write_text(json.dumps({"questions": {"file_name": "questions.json"}}), encoding="utf-8")
    run_evaluation(parse_eval_args(chat_argv(lora_adapter, task="qa", eval_dataset="questions", dataset_dir=tmp_path,
                                             output_dir=tmp_path / "eval", batch_size=3)))
    predictions = [json.loads(line)["prediction"] for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    lines = [line for question in QUESTIONS for line in (question, "/clear")]
    assert answers_in(session(engine, monkeypatch, lines, lora_adapter)) == predictions
    assert len(set(predictions)) == len(QUESTIONS)


class InterruptingOutput(io.StringIO):
    """Raises KeyboardInterrupt (as Ctrl-C does) at the first streamed piece of the first answer."""

    def __init__(self):
        super().__init__()
        self.armed, self.fired = False, False

    def write(self, text):
        if self.armed and not self.fired and text.strip():
            self.fired = True
            raise KeyboardInterrupt
        self.armed = self.armed or text == "Assistant: "
        return super().write(text)


def test_ctrl_c_stops_the_answer_and_the_chat_goes_on(engine, monkeypatch, lora_adapter):
    out = InterruptingOutput()
    output = session(engine, monkeypatch, QUESTIONS[:2], lora_adapter, stdout=out, max_new_tokens=40)
    assert out.fired and "(Stopped. This question and the partial answer are not kept" in output
    [answer] = [text for text in answers_in(output) if text]
    # the stopped question is not in the history: the next answer is the single-turn one
    assert answer.startswith(generate(engine, None, [{"role": "user", "content": QUESTIONS[1]}]))


def test_oldest_exchanges_are_dropped_when_the_context_is_full(engine, monkeypatch, lora_adapter):
    one_turn = len(render_prompt(engine.template, engine.tokenizer, None, [{"role": "user", "content": QUESTIONS[0]}], None, True))
    small = SharedEngine(engine._engine)
    small.context_length = one_turn + 2 * MAX_NEW_TOKENS + 20  # room for one exchange of history, not two
    output = session(small, monkeypatch, QUESTIONS, lora_adapter)
    assert len(answers_in(output)) == 3
    assert "no longer fits the model's context" in output and "the oldest 1 exchange(s) were dropped" in output
    small.context_length = one_turn - 5
    output = session(small, monkeypatch, [QUESTIONS[0]], lora_adapter)
    assert "shorten it" in output and answers_in(output) == []


class ScriptedEngine:
    """Answers every request with a fixed text, in two streamed pieces (for the safety modes)."""

    tokenizer, template, context_length, model_names = None, None, 4096, ["scripted"]

    def __init__(self, answer):
        self.answer = answer

    def submit(self, request):
        handle = RequestHandle(request, asyncio.get_running_loop())
        half = len(self.answer) // 2
        for piece in (self.answer[:half], self.answer[half:]):
            handle.sink(Event(text=piece))
        handle.sink(Event(completion=Completion(self.answer, "stop", 10, 4)))
        return handle

    def close(self):
        pass


@pytest.mark.parametrize("mode", ["annotate", "refuse", "off"])
def test_safety_modes(monkeypatch, lora_adapter, mode):
    monkeypatch.setattr(chat_module, "render_prompt", lambda *args: [1, 2, 3])
    output = session(ScriptedEngine("可用甘草配甘遂同煎"), monkeypatch, ["便秘怎么办"], lora_adapter, safety=mode)
    [answer] = answers_in(output)
    warned = "安全提示 / Safety warning: 甘草反甘遂" in output
    if mode == "refuse":
        assert answer.startswith("【安全提示】") and "甘草配甘遂" not in answer and not warned
        assert "answers are shown when complete" in output
    else:
        assert answer == "可用甘草配甘遂同煎" and warned == (mode == "annotate")


def test_ctrl_c_or_eof_at_the_prompt_ends_the_chat(monkeypatch, lora_adapter):
    class InterruptedInput(io.StringIO):
        def readline(self, *args):
            raise KeyboardInterrupt

    monkeypatch.setattr(chat_module, "load_serving_engine", lambda config: ScriptedEngine("好"))
    out = io.StringIO()
    run_chat(parse_serve_args("chat", chat_argv(lora_adapter)), stdin=InterruptedInput(), stdout=out)
    assert out.getvalue().endswith("Bye.\n")


def test_the_command_line_chat_with_piped_stdin(engine, monkeypatch, lora_adapter):
    expected = generate(engine, None, [{"role": "user", "content": QUESTIONS[2]}])
    process = subprocess.run([sys.executable, "-m", "llmtuner.cli", "chat", *chat_argv(lora_adapter)], cwd=ROOT,
                             env=child_env(), input=f"{QUESTIONS[2]}\n/exit\n", capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    assert answers_in(process.stdout) == [expected]
    assert QUESTIONS[2] not in process.stderr  # the log never holds the conversation


def test_think_switches_the_rendering_of_a_thinking_template(monkeypatch, lora_adapter):
    from types import SimpleNamespace

    rendered = []
    monkeypatch.setattr(chat_module, "render_prompt", lambda *args: rendered.append((args[3], args[-1])) or [1, 2, 3])
    engine = ScriptedEngine("<think>\n想一想\n</think>\n\n好的")
    engine.template = SimpleNamespace(final_thought="<think>\n\n</think>\n\n", default_system="")
    output = session(engine, monkeypatch, ["问一", "/think off", "问二", "/think"], lora_adapter)
    assert "Thinking: on (/think on|off)." in output and output.count("Thinking is off") == 2
    assert "changes nothing" not in output
    assert [thinking for _, thinking in rendered] == [True, False]
    assert rendered[1][0][1] == {"role": "assistant", "content": "好的"}  # history drops the reasoning, as Qwen3 does
