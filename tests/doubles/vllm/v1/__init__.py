"""vllm.v1 (test double): only `engine.async_llm.AsyncLLM`."""
