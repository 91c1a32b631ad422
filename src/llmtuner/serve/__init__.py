"""Using a trained model: `llmtuner chat`, `infer` and `api`, on the same template and loading code as evaluation.

  requests.py     what a caller asks for (prompt ids, decoding options) and the events it gets back
  prompts.py      chat messages (OpenAI shape) checked and rendered by our template
  scheduler.py    the queue and the batching policy (which requests share a generation), engine-independent
  detokenize.py   one answer as it grows: stop tokens, budget, stop strings, cancel, streamable text
  hf_batch.py     one batched transformers generate(): per-request stops, max tokens, cancel, logprobs, adapters
  hf_engine.py    the transformers engine: model, named LoRA adapters, scheduler
  vllm_engine.py  the vLLM engine: AsyncLLM, adapters as LoRARequests (GPU servers)
  handle.py       the caller's side of a request: its events as an async iterator
  engine.py       engines by name, and the protocol every command talks to
  safety.py       the evaluator's TCM safety check applied to answers (annotate / refuse / off)
"""
