"""The continued-pretraining trainer: transformers' Trainer, with compact saving of expanded-vocabulary adapters."""

from transformers import Trainer

from ..adapter_saving import CompactAdapterSaving


class PTTrainer(CompactAdapterSaving, Trainer):
    pass
