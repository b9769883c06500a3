#!/usr/bin/python3
"""Crash-safe training: `cnnc train` killed with SIGKILL at random moments
(some of them while a checkpoint is being written) leaves a checkpoint that
loads, and --resume finishes the run with the same final weights, bit for
bit, as a run never interrupted.

  kill_resume_test.py CNNC CHECKPOINT_CHECK MODEL.json [--kills 20] [--seed 1] [--work DIR]

CHECKPOINT_CHECK is tests/hardening/checkpoint_check.cpp's executable: it
verifies a checkpoint's checksum as --resume does.
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import cnnc_files

IMAGES, BATCH = 512, 32


def train_command(args, x, y, run_dir, epochs, resume):
    ckpt = os.path.join(run_dir, "ckpt.safetensors")
    cmd = [args.cnnc, "train", args.model, "--train-images", x, "--train-labels", y,
           "--batch-size", str(BATCH), "--epochs", str(epochs), "--checkpoint", ckpt,
           "--save", os.path.join(run_dir, "final.safetensors")]
    if resume and os.path.exists(ckpt):
        cmd += ["--resume", ckpt]
    return cmd


def run_to_end(cmd):
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit("FAIL: %s exited %d\n%s" % (" ".join(cmd), done.returncode, done.stderr))
    return time.monotonic() - started


def file_state(path):
    try:
        st = os.stat(path)
        return (st.st_ino, st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        return None


def kill_during_write(proc, tmp_path, deadline, rng):
    """Polls for the checkpoint's temporary file (a new one, not one an earlier
    kill left behind) and kills within a few milliseconds of its appearing."""
    stale = file_state(tmp_path)
    while time.monotonic() < deadline and proc.poll() is None:
        state = file_state(tmp_path)
        if state is not None and state != stale:
            time.sleep(rng.uniform(0, 0.004))
            proc.send_signal(signal.SIGKILL)
            return True
        time.sleep(0.0002)
    return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("cnnc")
    parser.add_argument("checkpoint_check")
    parser.add_argument("model")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = args.work or tempfile.mkdtemp(prefix="cnnc-kill-")
    os.makedirs(work, exist_ok=True)
    os.environ.setdefault("CNNC_NUM_THREADS", "2")
    x, y = cnnc_files.write_dataset(work, IMAGES, seed=args.seed)

    # Compiles (or finds cached) the model and measures one epoch.
    probe = os.path.join(work, "probe")
    os.makedirs(probe, exist_ok=True)
    run_to_end(train_command(args, x, y, probe, 1, False))
    epoch_seconds = run_to_end(train_command(args, x, y, probe, 1, False))
    epochs = args.kills + 4  # a run killed within epoch_seconds finishes at most one epoch
    print("one epoch (with start-up): %.2fs; %d epochs of %d batches"
          % (epoch_seconds, epochs, IMAGES // BATCH))

    reference = os.path.join(work, "reference")
    os.makedirs(reference, exist_ok=True)
    seconds = run_to_end(train_command(args, x, y, reference, epochs, False))
    print("uninterrupted run: %.1fs" % seconds)

    killed = os.path.join(work, "killed")
    os.makedirs(killed, exist_ok=True)
    ckpt = os.path.join(killed, "ckpt.safetensors")
    kills = during_write = 0
    last_step = -1
    while kills < args.kills:
        cmd = train_command(args, x, y, killed, epochs, True)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + rng.uniform(0.05, epoch_seconds)
        if kills % 2 == 1:
            during_write += kill_during_write(proc, ckpt + ".tmp", deadline, rng)
        else:
            time.sleep(max(0.0, deadline - time.monotonic()))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        if proc.returncode != -signal.SIGKILL:
            sys.exit("FAIL: run %d ended by itself (%d) before the kill\n%s"
                     % (kills + 1, proc.returncode, err.decode()))
        kills += 1
        if os.path.exists(ckpt):
            check = subprocess.run([args.checkpoint_check, ckpt], capture_output=True, text=True)
            if check.returncode != 0:
                sys.exit("FAIL: after kill %d the checkpoint is bad: %s" % (kills, check.stderr))
            _, step, _, finite = check.stdout.split()
            if int(step) < last_step or finite != "1":
                sys.exit("FAIL: after kill %d the checkpoint went back or is not finite" % kills)
            last_step = int(step)
    print("%d kills (%d during a checkpoint write); last checkpoint at step %d"
          % (kills, during_write, last_step))

    run_to_end(train_command(args, x, y, killed, epochs, True))
    _, want, want_raw = cnnc_files.read_safetensors(os.path.join(reference, "final.safetensors"))
    _, got, got_raw = cnnc_files.read_safetensors(os.path.join(killed, "final.safetensors"))
    if want_raw != got_raw:
        differing = [n for n in want if n not in got or want[n].tobytes() != got[n].tobytes()]
        sys.exit("FAIL: resumed weights differ from the uninterrupted run in %s" % differing)
    print("PASS: resumed after %d kills; final weights identical to the uninterrupted run" % kills)
    if not args.work:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
