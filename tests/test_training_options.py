"""Training options that change what happens around the loss: NEFTune noise, trackers kept offline."""

from run_helpers import child_env, launch, logged_losses, sft_args, write_qa_dataset


def _run(argv, unset=(), **env):
    environment = child_env(**env)
    for name in unset:
        environment.pop(name, None)
    process = launch(argv, env=environment)
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-6000:]
    return output


def test_neftune_changes_the_loss_and_wandb_stays_offline_with_tensorboard(tmp_path, tiny_model_dir):
    data = write_qa_dataset(tmp_path / "data", samples=16)
    plain, noisy = tmp_path / "plain", tmp_path / "noisy"
    _run(sft_args(data, plain, max_steps=2), WANDB_MODE="disabled")
    output = _run(sft_args(data, noisy, max_steps=2, neftune_noise_alpha=5.0, report_to="wandb,tensorboard"),
                  unset=("WANDB_MODE", "WANDB_DIR"), HOME=str(tmp_path))  # as on a user's machine
    assert "wandb records offline" in output
    offline_runs = list((noisy / "wandb").glob("offline-run-*"))
    assert offline_runs, f"no offline wandb run under {noisy}"
    assert list(noisy.glob("runs/*/events.out.tfevents.*")), "no tensorboard event file"
    assert logged_losses(noisy)[1] != logged_losses(plain)[1]  # noise on the embeddings changes the first loss
