"""vllm.engine (test double): only `arg_utils.AsyncEngineArgs`."""
