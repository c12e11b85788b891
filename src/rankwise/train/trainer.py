"""Train a cross-encoder or a bi-encoder: rankwise prepares the data and the base model, sentence-transformers'
``CrossEncoderTrainer`` / ``SentenceTransformerTrainer`` optimise, rankwise writes the folder.

    from rankwise.train import train_cross_encoder
    result = train_cross_encoder("data/scifact", "models/ce-bce", split="train", loss="bce", epochs=1)
    CrossEncoderReranker(result.output)                     # or: rankwise rerank … --model models/ce-bce

**Work folder and resuming.** Everything in progress lives in ``MODEL_DIR.partial/``: the settings, the training
rows (mined negatives and teacher scores included, so a resumed run trains on exactly the same data), and the
trainer's checkpoints (weights, optimiser, scheduler, random states) every ``checkpoint_steps`` steps. After a kill,
the same call with ``resume=True`` (CLI ``--resume``) continues from the last checkpoint; different settings are
refused. The finished model is staged there and renamed to ``MODEL_DIR`` (:mod:`rankwise.train.folder`), then the
work folder is removed.

**Progress** (on by default; ``progress=False`` or ``RANKWISE_PROGRESS=0`` silences it): one line every
``log_steps`` steps with the step, the loss averaged since the last line, examples/s and pairs/s over this process's
steps, elapsed time and time left.

The curriculum (:mod:`rankwise.train.curriculum`) is applied in the trainer's ``compute_loss``: the batch's mean
weight times the loss, the iteration being ``global_step // batches_per_iteration``.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rankwise.checks import positive_int
from rankwise.models import require
from rankwise.onnx_runtime import model_max_length
from rankwise.train import curriculum as cl
from rankwise.train.data import (
    DEFAULT_DENSE,
    PICKS,
    load_training_queries,
    mine_negatives,
    read_rows,
    rows_digest,
    write_rows,
)
from rankwise.train.folder import (
    QUANTIZATION,
    RECORD_FORMAT,
    check_output,
    export_onnx_int8,
    finish_folder,
    load_bi_encoder,
    prepare_bi_encoder_base,
    prepare_cross_encoder_base,
    versions,
)
from rankwise.train.losses import DEFAULT_NEGATIVES, NEEDS_TEACHER, build_rows, check_loss, make_loss

DEFAULT_CROSS_ENCODER = "cross-encoder/ms-marco-MiniLM-L-12-v2"
DEFAULT_BI_ENCODER = "BAAI/bge-small-en-v1.5"


@dataclass
class TrainingResult:
    output: Path  # the finished model folder
    record: dict  # what rankwise_training.json holds


def _say(log: Callable[[str], None] | None, progress: bool):
    if log is not None:
        return log
    if not progress:
        return lambda line: None
    return lambda line: print(line, file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _progress_callback(log, examples_per_step: int, pairs_per_example: float):
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """One line per logging step: step, loss, examples/s, pairs/s, elapsed, time left."""

        def on_train_begin(self, args, state, control, **kwargs):
            self.start, self.first_step = time.perf_counter(), state.global_step
            if state.global_step:
                log(f"resumed at step {state.global_step}/{state.max_steps}")

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs:
                return
            done = state.global_step - self.first_step
            elapsed = time.perf_counter() - self.start
            rate = done / elapsed if elapsed > 0 else 0.0
            left = (state.max_steps - state.global_step) / rate if rate > 0 else float("nan")
            examples = rate * examples_per_step
            log(f"step {state.global_step}/{state.max_steps}  loss {logs['loss']:.4f}  "
                f"{examples:.1f} examples/s ({examples * pairs_per_example:.1f} pairs/s)  "
                f"elapsed {_clock(elapsed)}  left {_clock(left) if left == left else '?'}")

    return Progress()


def _add_lora(model, student: str, rank: int, alpha: float, dropout: float, seed: int):
    """LoRA adapters (Hu et al. 2021) injected into the sentence-transformers model's transformers model, everything
    else frozen; a cross-encoder's classification head is trained in full (peft's SEQ_CLS task). Returns the peft
    wrapper (to save the adapter and merge it)."""
    import peft
    import torch

    torch.manual_seed(seed)  # the adapters' random initialisation is the run's, whatever ran before in the process
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout,
                             task_type="SEQ_CLS" if student == "cross-encoder" else "FEATURE_EXTRACTION")
    try:  # in place: the model the trainer sees now holds the adapters (target modules: peft's default per model)
        return peft.get_peft_model(model.transformers_model, config)
    except ValueError as e:
        raise ValueError(f"LoRA cannot be applied to this base model: {e}") from None


def _parameter_counts(model) -> dict:
    params = list(model.parameters())
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return {"trainable_parameters": trainable, "total_parameters": sum(p.numel() for p in params)}


def _trainer_class(base):
    """``base`` (a sentence-transformers trainer) with the curriculum weight applied to each batch's loss."""
    import torch

    class RankwiseTrainer(base):
        curriculum_end = cl.DEFAULT_END
        batches_per_iteration = cl.DEFAULT_BATCHES_PER_ITERATION
        adapter = None  # the peft wrapper when training LoRA adapters

        # A checkpoint of a LoRA training also keeps the adapter in adapter/: the model file beside it names the
        # weights as peft wrapped them, which sentence-transformers cannot load back; resuming loads the adapter.
        def _save(self, output_dir=None, state_dict=None):
            super()._save(output_dir, state_dict)
            if self.adapter is not None:
                self.adapter.save_pretrained(os.path.join(output_dir or self.args.output_dir, "adapter"))

        def _load_from_checkpoint(self, checkpoint_path, *args, **kwargs):
            if self.adapter is None:
                return super()._load_from_checkpoint(checkpoint_path, *args, **kwargs)
            import peft
            from safetensors.torch import load_file

            state = load_file(os.path.join(checkpoint_path, "adapter", "adapter_model.safetensors"))
            peft.set_peft_model_state_dict(self.adapter, state)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            difficulty = inputs.pop("difficulty", None)
            out = super().compute_loss(model, inputs, return_outputs=return_outputs,
                                       num_items_in_batch=num_items_in_batch)
            if difficulty is None or not model.training:
                return out
            iteration = self.state.global_step // self.batches_per_iteration
            weight = cl.curriculum_weight(torch.as_tensor(difficulty, dtype=torch.float32), iteration,
                                          self.curriculum_end).mean()
            if return_outputs:
                return out[0] * weight, out[1]
            return out * weight

    return RankwiseTrainer


class _DifficultyCollator:
    """Takes the ``difficulty`` column out of the rows before the trainer's own collator tokenizes them, and puts
    it back into the batch as a tensor."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):  # the trainer reads the inner collator's settings (valid_label_columns, …)
        return getattr(self.inner, name)

    def __call__(self, features):
        import torch

        if features and "difficulty" in features[0]:
            values = [f["difficulty"] for f in features]
            features = [{k: v for k, v in f.items() if k != "difficulty"} for f in features]
            batch = self.inner(features)
            batch["difficulty"] = torch.tensor(values, dtype=torch.float32)
            return batch
        return self.inner(features)


def _prepare_rows(student, dataset, split, loss, *, teacher, negatives, num_negatives, depth, pick, guard_margin,
                  curriculum, queries, synthetic, level, seed, dense_model, score_cache, log):
    from rankwise.train.teachers import make_teacher

    start = time.perf_counter()
    train_queries, corpus, stats = load_training_queries(dataset, split, level=level, qids=queries,
                                                         synthetic=synthetic)
    log(f"{len(train_queries)} training queries ({stats.get('labelled_queries', 0)} labelled, "
        f"{stats.get('synthetic_queries', 0)} synthetic); mining {num_negatives} negatives each from {negatives} "
        f"top-{depth}" + (f"; teacher {teacher}" if teacher else ""))
    scorer = make_teacher(teacher, cache=score_cache) if teacher else None
    training = mine_negatives(train_queries, corpus, negatives, depth=depth, num_negatives=num_negatives, pick=pick,
                              teacher=scorer, guard_margin=guard_margin, seed=seed, dense_model=dense_model,
                              stats=stats)
    rows, counts = build_rows(training, loss, student, num_negatives, curriculum)
    stats = {**training.stats, **counts, "data_seconds": round(time.perf_counter() - start, 1)}
    if stats.get("dropped_by_false_negative_guard"):
        log(f"false-negative guard dropped {stats['dropped_by_false_negative_guard']} candidate negatives")
    return rows, stats


def _train(student: str, dataset, output, *, split, base, loss, teacher, negatives, num_negatives, depth, pick,
           guard_margin, curriculum, curriculum_end, batches_per_iteration, epochs, max_steps, max_length,
           batch_size, learning_rate, warmup_ratio, weight_decay, queries, synthetic, level, checkpoint_steps,
           log_steps, resume, overwrite, onnx, seed, score_cache, dense_model, scale, device, progress, log,
           callbacks, lora, lora_alpha, lora_dropout) -> TrainingResult:
    require("sentence_transformers", "train", "training")
    require("datasets", "train", "training")
    require("accelerate", "train", "training")
    log = _say(log, progress if progress is not None else os.environ.get("RANKWISE_PROGRESS", "1") != "0")
    check_loss(loss, student)
    if loss in NEEDS_TEACHER and not teacher:
        raise ValueError(f"loss {loss!r} learns a teacher's score margins: give a teacher (e.g. --teacher "
                         "cross-encoder, or an ensemble: --teacher cross-encoder+dense)")
    if curriculum is True:
        curriculum = "teacher" if teacher else "reciprank"
    if curriculum and curriculum not in cl.HEURISTICS:
        raise ValueError(f"curriculum must be one of {', '.join(cl.HEURISTICS)}; got {curriculum!r}")
    if curriculum == "teacher" and not teacher:
        raise ValueError("the 'teacher' curriculum heuristic needs a teacher (--teacher)")
    if pick not in PICKS:
        raise ValueError(f"pick must be one of {', '.join(PICKS)}; got {pick!r}")
    num_negatives = positive_int("num_negatives", num_negatives if num_negatives is not None
                                 else DEFAULT_NEGATIVES[loss])
    for label, value in (("epochs", epochs), ("batch_size", batch_size), ("checkpoint_steps", checkpoint_steps),
                         ("log_steps", log_steps), ("curriculum_end", curriculum_end),
                         ("batches_per_iteration", batches_per_iteration), ("depth", depth)):
        positive_int(label, value)
    positive_int("max_steps", max_steps, optional=True)
    positive_int("max_length", max_length, optional=True)
    positive_int("lora", lora, optional=True)
    if not lora and lora_alpha is not None:
        raise ValueError("lora_alpha applies to LoRA training: give a rank too (--lora RANK)")
    if lora:
        require("peft", "train", "LoRA adapters")
        lora_alpha = float(lora_alpha) if lora_alpha is not None else 2.0 * lora
        if not lora_alpha > 0 or not 0 <= lora_dropout < 1:
            raise ValueError(f"LoRA needs lora_alpha > 0 and 0 <= lora_dropout < 1; got {lora_alpha!r}, "
                             f"{lora_dropout!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    teacher_spec = None if teacher is None else (teacher if isinstance(teacher, str) else
                                                 "+".join(teacher) if isinstance(teacher, (list, tuple))
                                                 else repr(teacher))
    output = Path(output)
    check_output(output, overwrite)
    settings = {
        "student": student, "dataset": str(getattr(dataset, "path", None) or dataset), "split": split,
        "base": str(base), "loss": loss, "teacher": teacher_spec, "negatives": negatives if isinstance(negatives, str)
        else type(negatives).__name__, "num_negatives": num_negatives, "depth": depth, "pick": pick,
        "guard_margin": guard_margin, "curriculum": curriculum or None,
        "curriculum_end": curriculum_end if curriculum else None,
        "batches_per_iteration": batches_per_iteration if curriculum else None, "epochs": epochs,
        "max_steps": max_steps, "max_length": max_length, "batch_size": batch_size, "learning_rate": learning_rate,
        "warmup_ratio": warmup_ratio, "weight_decay": weight_decay, "level": level,
        "queries": sorted(queries) if queries is not None else None,
        "synthetic": str(synthetic) if synthetic is not None else None, "seed": seed,
        "dense_model": dense_model, "scale": scale if student == "bi-encoder" else None,
        "lora": {"r": lora, "alpha": lora_alpha, "dropout": lora_dropout} if lora else None,
    }
    if split is None and synthetic is None:
        raise ValueError("nothing to train on: give a split with qrels (e.g. --split train) or synthetic queries "
                         "(--synthetic FILE from `rankwise train duqgen`)")
    work = output.with_name(output.name + ".partial")
    settings_file = work / "settings.json"
    created = False
    if work.exists():
        if not resume:
            raise FileExistsError(f"{work} holds an interrupted training of {output}: pass --resume (resume=True) to "
                                  "continue it, or delete that folder to start again")
        saved = json.loads(settings_file.read_text(encoding="utf-8")) if settings_file.is_file() else {}
        changed = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
        if changed:
            raise ValueError(f"cannot resume {work}: it was started with other settings ({', '.join(changed)}); "
                             "use the same options, or delete the folder to start again")
    else:
        if resume:
            log(f"nothing to resume in {work}; starting")
        work.mkdir(parents=True)
        created = True
        settings_file.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    try:
        st = require("sentence_transformers", "train", "training")
        import datasets as hf_datasets
        import torch
        from transformers.trainer_utils import get_last_checkpoint

        if student == "cross-encoder":
            base_model, base_settings = prepare_cross_encoder_base(base), None
        else:
            base_model, base_settings = prepare_bi_encoder_base(base)

        rows_file, stats_file = work / "rows.jsonl", work / "stats.json"
        if rows_file.is_file() and stats_file.is_file():
            rows = read_rows(rows_file)
            stats = json.loads(stats_file.read_text(encoding="utf-8"))
            log(f"read {len(rows)} training rows from {rows_file}")
        else:
            rows, stats = _prepare_rows(student, dataset, split, loss, teacher=teacher, negatives=negatives,
                                        num_negatives=num_negatives, depth=depth, pick=pick, guard_margin=guard_margin,
                                        curriculum=curriculum, queries=queries, synthetic=synthetic, level=level,
                                        seed=seed, dense_model=dense_model, score_cache=score_cache, log=log)
            write_rows(rows, rows_file)
            stats_file.write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        data_hash = rows_digest(rows)

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        train_set = hf_datasets.Dataset.from_list(rows)
        common = dict(
            output_dir=str(work / "checkpoints"), num_train_epochs=epochs, max_steps=max_steps or -1,
            per_device_train_batch_size=batch_size, learning_rate=learning_rate, warmup_steps=warmup_ratio,
            weight_decay=weight_decay, save_strategy="steps", save_steps=checkpoint_steps, save_total_limit=2,
            logging_steps=log_steps, logging_first_step=False, report_to="none", disable_tqdm=True, seed=seed,
            data_seed=seed, dataloader_num_workers=0, use_cpu=device == "cpu",
            bf16=device.startswith("cuda") and torch.cuda.is_bf16_supported(),
        )
        pairs_per_row = round(sum(_pairs_per_row(r) for r in rows) / len(rows), 3)
        if student == "cross-encoder":
            serving_length = model_max_length(base_model.path) or 512
            model = st.CrossEncoder(str(base_model.path), num_labels=1, max_length=max_length, device=device)
            args = st.CrossEncoderTrainingArguments(**common)
            trainer_cls = _trainer_class(st.CrossEncoderTrainer)
        else:
            from sentence_transformers.base.sampler import BatchSamplers

            serving_length = int(base_settings.get("max_length") or 512)
            model = load_bi_encoder(base_model, base_settings, max_length, device)
            prompts = {"query": base_settings["query_prefix"]} if base_settings.get("query_prefix") else None
            args = st.SentenceTransformerTrainingArguments(
                **common, prompts=prompts,
                batch_sampler=BatchSamplers.NO_DUPLICATES if loss == "mnrl" else BatchSamplers.BATCH_SAMPLER)
            trainer_cls = _trainer_class(st.SentenceTransformerTrainer)
        adapter = _add_lora(model, student, lora, lora_alpha, lora_dropout, seed) if lora else None
        loss_module = make_loss(loss, model, student, scale=scale)
        trainer = trainer_cls(model=model, args=args, train_dataset=train_set, loss=loss_module,
                              callbacks=[_progress_callback(log, batch_size, pairs_per_row), *(callbacks or ())])
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # the Progress callback prints instead
        trainer.adapter = adapter
        trainer.curriculum_end, trainer.batches_per_iteration = curriculum_end, batches_per_iteration
        trainer.data_collator = _DifficultyCollator(trainer.data_collator)

        checkpoint = get_last_checkpoint(str(work / "checkpoints")) if (work / "checkpoints").is_dir() else None
        start, cpu_start = time.perf_counter(), time.process_time()
        first_step = 0
        if checkpoint:
            first_step = int(Path(checkpoint).name.rsplit("-", 1)[-1])
        outcome = trainer.train(resume_from_checkpoint=checkpoint)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        steps_here = trainer.state.global_step - first_step
        examples_here = steps_here * batch_size
        history = [{"step": e["step"], "loss": round(e["loss"], 6)} for e in trainer.state.log_history if "loss" in e]

        staged = work / "staged"
        shutil.rmtree(staged, ignore_errors=True)
        peft_record = None
        if adapter is not None:  # the adapter alone in adapter/, and merged into the weights the folder holds
            adapter.save_pretrained(str(staged / "adapter"))
            peft_record = {"method": "LoRA", "adapter": "adapter/", **_parameter_counts(model),
                           "target_modules": sorted(adapter.peft_config["default"].target_modules)}
            adapter.merge_and_unload()
        # Inputs may have been cut shorter for training's sake (--max-length); the folder keeps the base model's input
        # length, so it reranks and encodes like the model it came from (the training length is in the record).
        model.max_seq_length = serving_length
        model.save_pretrained(str(staged), create_model_card=False)
        onnx_file = None
        if onnx:
            log("exporting int8 ONNX")
            onnx_file = export_onnx_int8(staged)
        record = {
            "format": RECORD_FORMAT, "kind": student, "settings": settings,
            "base_model": {"name": base_model.name, "path": str(base_model.path), "source": base_model.source,
                           "sha256": base_model.sha256},
            "data": {"sha256": data_hash, "rows": len(rows), "pairs_per_row": pairs_per_row, **stats},
            "training": {"steps": trainer.state.global_step, "epochs": round(float(trainer.state.epoch or 0), 3),
                         "final_loss": round(float(outcome.training_loss), 6) if outcome.training_loss else None,
                         "loss_history": history, "resumed_from_step": first_step or None,
                         "seconds_this_process": round(seconds, 1), "steps_this_process": steps_here,
                         "cpu_seconds_this_process": round(cpu_seconds, 1),
                         "examples_per_second": round(examples_here / seconds, 2) if seconds > 0 else None,
                         "pairs_per_second": round(examples_here * pairs_per_row / seconds, 2) if seconds > 0 else None,
                         "device": device, "torch_threads": torch.get_num_threads()},
            "peft": peft_record,
            "onnx": {"file": "onnx/model.onnx", "quantization": QUANTIZATION[student]}
            if onnx_file else None,
            "versions": versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        _write_readme(staged, record)
        finish_folder(staged, output, record)
        shutil.rmtree(work, ignore_errors=True)
        log(f"wrote {output} ({trainer.state.global_step} steps, {_clock(seconds)}, "
            f"{record['training']['examples_per_second']} examples/s)")
        return TrainingResult(output, record)
    except BaseException:
        # A run that failed before its first checkpoint leaves nothing worth resuming: no stale work folder.
        if created and not any((work / "checkpoints").glob("checkpoint-*")):
            shutil.rmtree(work, ignore_errors=True)
        raise


def _pairs_per_row(row: dict) -> float:
    """(query, document) pairs the model reads for one row."""
    if "docs" in row:
        return float(len(row["docs"]))
    return float(sum(1 for k in row if k in ("document", "positive") or k.startswith("negative_")))


def _write_readme(folder: Path, record: dict) -> None:
    s = record["settings"]
    use = ("rankwise rerank CANDIDATES --reranker cross-encoder --model THIS_FOLDER" if record["kind"] ==
           "cross-encoder" else "rankwise retrieve DATASET_DIR --retriever dense --model THIS_FOLDER")
    lines = [f"# {record['kind']} trained with rankwise", "",
             f"- base model: {record['base_model']['name']} ({record['base_model']['source']})",
             f"- loss: {s['loss']}" + (f", teacher {s['teacher']}" if s["teacher"] else "")
             + (f", curriculum {s['curriculum']}" if s["curriculum"] else ""),
             f"- data: {s['dataset']} split {s['split']}" + (f" + synthetic {s['synthetic']}" if s["synthetic"] else "")
             + f"; {record['data']['rows']} rows, sha256 {record['data']['sha256'][:16]}…",
             f"- {record['training']['steps']} steps, {record['training']['examples_per_second']} examples/s",
             "", f"Use: `{use}`. Everything about the training is in `rankwise_training.json`.", ""]
    (folder / "README.md").write_text("\n".join(lines), encoding="utf-8")


_COMMON_DEFAULTS = dict(split="train", teacher=None, negatives="bm25", num_negatives=None, depth=100, pick="random",
                        guard_margin=0.0, curriculum=None, curriculum_end=cl.DEFAULT_END,
                        batches_per_iteration=cl.DEFAULT_BATCHES_PER_ITERATION, epochs=1, max_steps=None,
                        max_length=None, batch_size=16, warmup_ratio=0.1, weight_decay=0.01, queries=None,
                        synthetic=None, level=1, checkpoint_steps=100, log_steps=10, resume=False, overwrite=False,
                        seed=12, score_cache=None, dense_model=DEFAULT_DENSE, device=None, progress=None, log=None,
                        callbacks=None, lora=None, lora_alpha=None, lora_dropout=0.1)


def train_cross_encoder(dataset, output, *, base=DEFAULT_CROSS_ENCODER, loss: str = "bce",
                        learning_rate: float = 7e-6, onnx: bool = False, **options) -> TrainingResult:
    """Fine-tune a cross-encoder (module docs). ``dataset``: a BEIR folder or :class:`~rankwise.types.Dataset`.

    Options (defaults): ``split`` ("train"; None for synthetic queries only), ``base`` (the kit's
    ms-marco-MiniLM-L-12-v2, dequantised), ``loss`` (bce | ranknet | listnet | lambda | margin-mse), ``teacher``
    (a spec or specs of :func:`rankwise.train.teachers.make_teacher`; required by margin-mse), ``negatives``
    (bm25 | dense | hybrid, or a rankwise retriever), ``num_negatives`` (per positive; per-loss default),
    ``depth`` (100), ``pick`` (random | top | bottom), ``guard_margin`` (0.0; the guard runs when there is a teacher),
    ``curriculum`` (None, True, or reciprank | normscore | kde | teacher), ``curriculum_end`` (20 iterations),
    ``batches_per_iteration`` (32), ``epochs`` (1), ``max_steps``, ``max_length`` (the model's), ``batch_size``
    (16), ``learning_rate`` (7e-6), ``warmup_ratio`` (0.1), ``queries`` (train on these labelled query ids only),
    ``synthetic`` (a JSONL of :mod:`rankwise.train.duqgen` queries), ``checkpoint_steps`` (100), ``resume``,
    ``overwrite``, ``onnx`` (also write the int8 ONNX graph), ``seed``, ``score_cache`` (teacher scores),
    ``callbacks`` (extra ``transformers.TrainerCallback`` objects), ``lora`` (a rank: train LoRA adapters instead of
    every weight, ``pip install peft``), ``lora_alpha`` (2 x rank), ``lora_dropout`` (0.1).
    """
    unknown = set(options) - set(_COMMON_DEFAULTS)
    if unknown:
        raise TypeError(f"train_cross_encoder() got unknown option(s): {', '.join(sorted(unknown))}")
    return _train("cross-encoder", dataset, output, base=base, loss=loss, learning_rate=learning_rate, onnx=onnx,
                  scale=None, **{**_COMMON_DEFAULTS, **options})


def train_bi_encoder(dataset, output, *, base=DEFAULT_BI_ENCODER, loss: str = "mnrl", learning_rate: float = 2e-5,
                     scale: float = 20.0, onnx: bool = False, **options) -> TrainingResult:
    """Fine-tune a bi-encoder (dense retriever) — same options as :func:`train_cross_encoder`, with ``loss`` mnrl |
    margin-mse and ``scale`` (the factor on its inner products, :mod:`rankwise.train.losses`)."""
    unknown = set(options) - set(_COMMON_DEFAULTS)
    if unknown:
        raise TypeError(f"train_bi_encoder() got unknown option(s): {', '.join(sorted(unknown))}")
    return _train("bi-encoder", dataset, output, base=base, loss=loss, learning_rate=learning_rate, onnx=onnx,
                  scale=scale, **{**_COMMON_DEFAULTS, **options})


__all__ = ["DEFAULT_BI_ENCODER", "DEFAULT_CROSS_ENCODER", "TrainingResult", "train_bi_encoder",
           "train_cross_encoder"]
