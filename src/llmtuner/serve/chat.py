"""`llmtuner chat`: talk to a model in the terminal, answers streamed token by token, with multi-turn history.

Each turn is rendered by the template from the whole conversation, exactly as `llmtuner eval` renders a
question, so a first answer under greedy decoding is the evaluator's prediction for that question. Input is
read line by line, so the chat also works with piped stdin (scripts, tests); on a terminal Python's
`readline` gives line editing and history. One engine and one asyncio event loop serve the whole session;
the loop runs only while an answer is generated, so Ctrl-C there stops that answer (the chat goes on), while
Ctrl-C or Ctrl-D at the prompt ends the chat.

Commands: /clear (forget the conversation), /system [TEXT | default | none] (show or set the system prompt),
/think on|off (Qwen3-style thinking; only templates with a thinking block use it), /exit.
The TCM safety check (`safety`) runs on every answer: annotate prints a warning line naming the flagged
rules after it; refuse shows the refusal instead, so answers are then shown whole, not streamed.
"""

import asyncio
import contextlib
import sys
from typing import IO, Any

from ..extras.logging import get_logger
from ..hparams import ServeConfig
from .engine import RequestHandle, ServingEngine, load_serving_engine
from .prompts import render_prompt
from .requests import Completion, GenerationRequest, PromptTooLong, QueueFull, SamplingOptions
from .safety import review_answer, safety_question

logger = get_logger(__name__)
COMMANDS = ("Commands: /clear forgets the conversation, /system [TEXT|default|none] shows or sets the system prompt, "
            "/think on|off, /exit. Ctrl-C stops an answer; Ctrl-D or /exit ends the chat.")
USER, ASSISTANT = "User: ", "Assistant: "


def strip_reasoning(answer: str) -> str:
    """The answer as history keeps it: Qwen3's template drops the reasoning block from earlier turns."""
    from ..eval.qa_task import THINK_BLOCK

    return THINK_BLOCK.sub("", answer)


class ChatSession:
    def __init__(self, config: ServeConfig, engine: ServingEngine, stdin: IO[str], stdout: IO[str]) -> None:
        self.config, self.engine, self.stdin, self.out = config, engine, stdin, stdout
        self.history: list[dict[str, str]] = []
        self.system: str | None = None  # None: default_system, else the template's own
        self.thinking = config.data.enable_thinking
        self.options = SamplingOptions.from_arguments(config.generating)
        self.loop = asyncio.new_event_loop()
        self.handle: RequestHandle | None = None
        # readline editing only on a real terminal; a pipe is read line by line as is
        self.interactive = stdin is sys.stdin and stdout is sys.stdout and stdin.isatty()
        if self.interactive:
            with contextlib.suppress(ImportError):  # Windows without pyreadline: plain input
                import readline  # noqa: F401 - importing it gives input() line editing and history

    # ---- the session -------------------------------------------------------------------------------------
    def run(self) -> None:
        self._banner()
        try:
            while (line := self._read()) is not None:
                line = line.strip()
                if not line:
                    continue
                if line.startswith("/"):
                    if not self._command(line):
                        break
                    continue
                try:
                    self._answer(line)
                except KeyboardInterrupt:  # outside generation (rendering, the safety check): nothing was kept
                    self._say("\n(Stopped. This question is not kept in the conversation.)")
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())  # a stopped answer's event stream
            self.loop.close()
        self._say("Bye.")

    def _banner(self) -> None:
        generating, template = self.config.generating, self.engine.template
        decoding = f"sampling (temperature {generating.temperature})" if generating.do_sample else "greedy decoding"
        self._say(f"llmtuner chat: model {self.engine.model_names[0]}, template {self.config.data.template}, context "
                  f"{self.engine.context_length} tokens, {decoding}, max_new_tokens {generating.max_new_tokens}.")
        safety = {"annotate": "annotate (a flagged answer is followed by a warning line)",
                  "refuse": "refuse (a flagged answer is replaced by a warning, so answers are shown when complete)",
                  "off": "off"}[self.config.serving.safety]
        self._say(f"TCM safety check: {safety}.")
        if template is not None and template.final_thought:
            self._say(f"Thinking: {'on' if self.thinking else 'off'} (/think on|off).")
        self._say(COMMANDS)

    def _read(self) -> str | None:
        """The next line, or None at the end (EOF, Ctrl-C or Ctrl-D at the prompt)."""
        try:
            if self.interactive:
                return input(USER)
            line = self.stdin.readline()
            return line.rstrip("\n") if line else None
        except (EOFError, KeyboardInterrupt):
            self._say("")
            return None

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # ---- commands ----------------------------------------------------------------------------------------
    def _command(self, line: str) -> bool:
        """Run a /command; False ends the chat."""
        name, _, argument = line.partition(" ")
        argument = argument.strip()
        if name in ("/exit", "/quit"):
            return False
        if name == "/clear":
            self.history = []
            self._say("The conversation is cleared (the system prompt is kept).")
        elif name == "/system":
            self._set_system(argument)
        elif name == "/think":
            if argument in ("on", "off"):
                self.thinking = argument == "on"
            template = self.engine.template
            note = "" if template is not None and template.final_thought else (
                f" Template {self.config.data.template} has no thinking block, so this changes nothing.")
            self._say(f"Thinking is {'on' if self.thinking else 'off'} (/think on|off).{note}")
        else:
            self._say(f"Unknown command {name!r}. {COMMANDS}")
        return True

    def _set_system(self, argument: str) -> None:
        if argument == "default":
            self.system = None
        elif argument == "none":
            self.system = ""  # no system turn at all
        elif argument:
            self.system = argument
        current = self._system_in_use()
        if not argument:
            origin = "set with /system" if self.system is not None else "the default"
            self._say(f"System prompt ({origin}): {current or '(none)'}\n"
                      "/system TEXT sets it, /system default restores the default, /system none removes it.")
        else:
            self._say(f"System prompt: {current or '(none)'} (applies to the whole conversation).")

    def _system_in_use(self) -> str:
        if self.system is not None:
            return self.system
        if self.config.data.default_system is not None:
            return self.config.data.default_system
        template = self.engine.template
        return (template.default_system if template is not None else "") or ""

    # ---- answers -----------------------------------------------------------------------------------------
    def _prompt(self, question: str) -> list[int] | None:
        """The prompt ids of the conversation plus `question`, dropping the oldest exchanges that no longer fit."""
        context = self.engine.context_length
        reserve = min(self.options.max_new_tokens, context // 2)  # room for an answer, not the whole context
        dropped = 0
        while True:
            turns = [*self.history, {"role": "user", "content": question}]
            ids = render_prompt(self.engine.template, self.engine.tokenizer, self.system, turns,
                                self.config.data.default_system, self.thinking)
            if len(ids) + reserve <= context or not self.history:
                break
            del self.history[:2]
            dropped += 1
        if dropped:
            self._say(f"(The conversation no longer fits the model's context of {context} tokens: the oldest {dropped} "
                      f"exchange(s) were dropped from the history.)")
        if len(ids) >= context:
            self._say(f"(This message is {len(ids)} tokens with the system prompt, and the model's context holds "
                      f"{context}: shorten it.)")
            return None
        return ids

    def _answer(self, question: str) -> None:
        ids = self._prompt(question)
        if ids is None:
            return
        refuse = self.config.serving.safety == "refuse"  # the answer is checked whole before it is shown
        self.out.write(ASSISTANT)
        self.out.flush()
        task = self.loop.create_task(self._generate(ids, stream=not refuse))
        try:
            completion = self.loop.run_until_complete(task)
        except KeyboardInterrupt:
            self._stop(task)
            self._say("\n(Stopped. This question and the partial answer are not kept in the conversation.)")
            return
        except (PromptTooLong, QueueFull) as error:
            self._say(f"\n({error})")
            return
        if completion.finish_reason in ("error", "cancelled"):
            self._say(f"\n(No answer: {completion.error or completion.finish_reason}. The question is not kept; ask again.)")
            return
        turns = [*self.history, {"role": "user", "content": question}]
        review = review_answer(self.config.serving.safety, completion.text, safety_question(turns))
        if refuse:
            self.out.write(review.text)
        self._say("")
        if completion.finish_reason == "length":
            self._say(f"(The answer reached max_new_tokens {self.options.max_new_tokens} and was cut off.)")
        if review.flags and not review.refused:
            rules = "; ".join(dict.fromkeys(flag["rule"] for flag in review.flags))
            self._say(f"⚠ 安全提示 / Safety warning: {rules}. 请在执业医师或药师指导下用药。")
        # history holds what the user saw, so the next question follows on from it
        self.history = [*turns, {"role": "assistant", "content": strip_reasoning(review.text)}]

    async def _generate(self, ids: list[int], stream: bool) -> Completion:
        self.handle = self.engine.submit(GenerationRequest(ids, self.options))
        completion = None
        async for event in self.handle:  # read to its end (the completion), so no generator is left open
            if stream and event.text:
                self.out.write(event.text)
                self.out.flush()
            completion = event.completion or completion
        if completion is None:
            raise RuntimeError("the engine ended a request without a completion")  # engines always send one
        return completion

    def _stop(self, task: "asyncio.Task[Any]") -> None:
        """Ctrl-C during an answer: the engine drops the row at its next step; the loop settles the task."""
        if self.handle is not None:
            self.handle.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
                self.loop.run_until_complete(task)


def run_chat(config: ServeConfig, stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> None:
    """An interactive chat on one engine until /exit, EOF or Ctrl-C at the prompt (stdin/stdout: the process's)."""
    engine = load_serving_engine(config)
    try:
        ChatSession(config, engine, stdin or sys.stdin, stdout or sys.stdout).run()
    finally:
        engine.close()
