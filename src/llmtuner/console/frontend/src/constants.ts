/** Choices offered in forms (free text is accepted too: the server validates and names a bad value). */
export const TEMPLATES = [
  'shuzhiqihuang',
  'qwen3',
  'qwen2.5',
  'qwen2',
  'qwen',
  'llama3.3',
  'llama3.2',
  'llama3.1',
  'llama3',
  'internlm2',
  'intern2',
  'chatglm3',
  'baichuan2',
  'yi',
  'smollm2',
  'smollm',
  'default',
];

export const FINETUNING_TYPES = ['lora', 'qlora', 'freeze', 'full'];
export const EVAL_TASKS = ['qa', 'mcq', 'ppl'];
export const TRAIN_STAGES = ['sft', 'pt', 'dpo', 'kto', 'orpo', 'simpo', 'rm'];
