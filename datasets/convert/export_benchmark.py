#!/usr/bin/env python3
"""Exports a public benchmark release into the folder layout `g4u data import` reads.

Run it where the data can be downloaded (it needs the Hugging Face `datasets` library, except for
MMAU, which is read from its repository JSON and audio folder):

    pip install datasets
    python3 export_benchmark.py --benchmark mmmu --out exports/mmmu
    g4u data import --benchmark mmmu --input exports/mmmu --out data/mmmu-val

The export folder holds
    export.json   what was exported: benchmark, dataset id, config, split, revision, row count
    rows.jsonl    one row per line with the release's own field names and values
    media files   every image / audio cell as the original bytes (no re-encoding), named
                  media/<row:06d>_<column>.<ext> (MathVista, MATH-Vision: at the release's `image` path;
                  MMAU: at the release's `audio_id` path)
A media cell becomes {"path": "<file in the export>", "source_path": "<the release's file name>"}.
Values JSON cannot hold become null (NaN) or lists (numpy arrays). See datasets/convert/README.md.
"""
import argparse
import json
import math
import os
import shutil
import sys

CONVERTER_VERSION = 1


class Spec:
    def __init__(self, dataset, config, split, images=(), audios=(), trust_remote_code=False):
        self.dataset = dataset
        self.config = config
        self.split = split
        self.images = list(images)
        self.audios = list(audios)
        self.trust_remote_code = trust_remote_code


# The releases the reference harness (lmms-eval) evaluates; override with --dataset/--config/--split.
SPECS = {
    "mmmu": Spec("lmms-lab/MMMU", None, "validation", images=[f"image_{k}" for k in range(1, 8)]),
    "mmmu-pro": Spec("MMMU/MMMU_Pro", "standard (10 options)", "test",
                     images=[f"image_{k}" for k in range(1, 8)] + ["image"]),
    "mathvista": Spec("AI4Math/MathVista", None, "testmini", images=["decoded_image"]),
    "mathvision": Spec("MathLLMs/MathVision", None, "test", images=["decoded_image"]),
    "chartqa": Spec("lmms-lab/ChartQA", None, "test", images=["image"]),
    "docvqa": Spec("lmms-lab/DocVQA", "DocVQA", "validation", images=["image"]),
    "infovqa": Spec("lmms-lab/DocVQA", "InfographicVQA", "validation", images=["image"]),
    "ai2d": Spec("lmms-lab/ai2d", None, "test", images=["image"]),
    "textvqa": Spec("lmms-lab/textvqa", None, "validation", images=["image"]),
    "mmbench": Spec("lmms-lab/MMBench", "en", "dev", images=["image"]),
    "librispeech": Spec("lmms-lab/librispeech", None, "librispeech_test_clean", audios=["audio"]),
    "fleurs": Spec("google/fleurs", "en_us", "test", audios=["audio"], trust_remote_code=True),
    "covost2": Spec("lmms-lab-audio/covost2_en-zh", "en_zh", "test", audios=["audio"]),
    "mmau": None,  # repository JSON + audio folder (--mmau-json, --mmau-audio-root)
}


def sniff_extension(data):
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data.startswith(b"fLaC"):
        return "flac"
    if data.startswith(b"OggS"):
        return "ogg"
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and (data[1] & 0xE0) == 0xE0):
        return "mp3"
    return "bin"


def to_json_value(v):
    """Plain JSON for a cell that is not media (numpy scalars/arrays, NaN, nested lists/dicts)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(v, dict):
        return {str(k): to_json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json_value(x) for x in v]
    if hasattr(v, "tolist"):  # numpy
        return to_json_value(v.tolist())
    if isinstance(v, bytes):
        raise ValueError("unexpected bytes in a non-media column")
    return str(v)


def media_bytes(cell):
    """The original bytes of an undecoded Image/Audio cell ({'bytes', 'path'}); decoded cells are
    re-encoded losslessly (PNG for PIL images, 16-bit WAV for audio arrays) as a fallback."""
    if isinstance(cell, dict):
        if cell.get("bytes"):
            return cell["bytes"], cell.get("path")
        path = cell.get("path")
        if path and os.path.isfile(path):
            with open(path, "rb") as f:
                return f.read(), path
        if "array" in cell and "sampling_rate" in cell:
            return wav_bytes(cell["array"], cell["sampling_rate"]), path
        raise ValueError(f"media cell without bytes or a readable path: {sorted(cell)}")
    if hasattr(cell, "save"):  # a decoded PIL image
        import io

        buf = io.BytesIO()
        cell.save(buf, format="PNG")
        return buf.getvalue(), getattr(cell, "filename", None) or None
    raise ValueError(f"unexpected media cell of type {type(cell).__name__}")


def wav_bytes(array, rate):
    import io
    import struct
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(b"".join(struct.pack("<h", max(-32768, min(32767, int(round(float(x) * 32767))))) for x in array))
    return buf.getvalue()


def safe_relative(path):
    norm = os.path.normpath(path.replace("\\", "/"))
    if os.path.isabs(norm) or norm.startswith(".."):
        raise ValueError(f"release path {path!r} leaves the export folder")
    return norm


def write_file(root, rel, data):
    full = os.path.join(root, rel)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)


IMAGE_FORMATS = ("png", "jpg", "gif", "bmp")


def to_png(data):
    """Lossless PNG of an image in a format g4u does not read (e.g. WebP); needs Pillow."""
    import io

    try:
        from PIL import Image
    except ImportError:
        raise SystemExit(f"error: an image is {sniff_extension(data)} data; install Pillow to convert it to PNG")
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).save(buf, format="PNG")
    return buf.getvalue()


def export_rows(rows, benchmark, images, audios, tmp, reencoded=None):
    """Writes rows.jsonl and the media of `rows` (an iterable of dicts) into `tmp`; returns the count.
    `reencoded` (a one-element list) counts images converted to PNG."""
    if reencoded is None:
        reencoded = [0]
    n = 0
    with open(os.path.join(tmp, "rows.jsonl"), "w", encoding="utf-8") as out:
        for index, row in enumerate(rows):
            line = {}
            for key, value in row.items():
                if key in images or key in audios:
                    if value is None:
                        line[key] = None
                        continue
                    data, source = media_bytes(value)
                    if key in images and sniff_extension(data) not in IMAGE_FORMATS:
                        data = to_png(data)  # g4u reads PNG, JPEG, GIF and BMP
                        reencoded[0] += 1
                    if benchmark in ("mathvista", "mathvision") and isinstance(row.get("image"), str):
                        rel = safe_relative(row["image"])  # keep the release's own relative path
                    else:
                        rel = f"media/{index:06d}_{key}.{sniff_extension(data)}"
                    write_file(tmp, rel, data)
                    line[key] = {"path": rel, "source_path": os.path.basename(source) if source else None}
                else:
                    line[key] = to_json_value(value)
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            n += 1
    return n


def load_hf(spec, args):
    import datasets

    kwargs = {}
    if args.revision:
        kwargs["revision"] = args.revision
    if spec.trust_remote_code:
        kwargs["trust_remote_code"] = True
    ds = datasets.load_dataset(spec.dataset, spec.config, split=spec.split, **kwargs)
    for col in spec.images:
        if col in ds.column_names:
            ds = ds.cast_column(col, datasets.Image(decode=False))
    for col in spec.audios:
        if col in ds.column_names:
            ds = ds.cast_column(col, datasets.Audio(decode=False))
    if args.limit:
        ds = ds.select(range(min(args.limit, len(ds))))
    return ds, datasets.__version__


def export_mmau(args, tmp):
    with open(args.mmau_json, encoding="utf-8") as f:
        rows = json.load(f)
    if args.limit:
        rows = rows[: args.limit]
    with open(os.path.join(tmp, "rows.jsonl"), "w", encoding="utf-8") as out:
        for row in rows:
            rel = safe_relative(row["audio_id"])
            src = os.path.join(args.mmau_audio_root, rel)
            os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
            shutil.copyfile(src, os.path.join(tmp, rel))
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--benchmark", required=True, choices=sorted(SPECS))
    p.add_argument("--out", required=True, help="export folder to create (must not exist)")
    p.add_argument("--dataset", help="override the Hugging Face dataset id")
    p.add_argument("--config", help="override the dataset config (e.g. a FLEURS language or CoVoST direction)")
    p.add_argument("--split", help="override the split")
    p.add_argument("--revision", help="dataset revision (commit) to pin")
    p.add_argument("--limit", type=int, default=0, help="export only the first N rows (smoke tests)")
    p.add_argument("--source-language", help="CoVoST 2: source language code (default: from the config)")
    p.add_argument("--target-language", help="CoVoST 2: target language code (default: from the config)")
    p.add_argument("--mmau-json", help="MMAU: mmau-test-mini.json of the MMAU repository")
    p.add_argument("--mmau-audio-root", help="MMAU: folder the JSON's audio_id paths are relative to")
    args = p.parse_args(argv)

    if os.path.exists(args.out):
        sys.exit(f"error: {args.out} exists")
    tmp = args.out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    info = {"format": "g4u-benchmark-export/1", "benchmark": args.benchmark, "converter_version": CONVERTER_VERSION}
    if args.benchmark == "mmau":
        if not args.mmau_json or not args.mmau_audio_root:
            sys.exit("error: MMAU needs --mmau-json and --mmau-audio-root")
        info.update({"dataset": os.path.basename(args.mmau_json), "config": None, "split": "test-mini",
                     "revision": args.revision})
        info["rows"] = export_mmau(args, tmp)
    else:
        spec = SPECS[args.benchmark]
        spec.dataset = args.dataset or spec.dataset
        spec.config = args.config or spec.config
        spec.split = args.split or spec.split
        ds, version = load_hf(spec, args)
        info.update({"dataset": spec.dataset, "config": spec.config, "split": spec.split,
                     "revision": args.revision, "datasets_version": version})
        if args.benchmark == "covost2":
            src, _, tgt = (spec.config or "").partition("_")
            info["source_language"] = args.source_language or src
            info["target_language"] = args.target_language or tgt
        reencoded = [0]
        info["rows"] = export_rows(ds, args.benchmark, set(spec.images), set(spec.audios), tmp, reencoded)
        info["images_reencoded_as_png"] = reencoded[0]
    with open(os.path.join(tmp, "export.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.rename(tmp, args.out)
    print(f"{args.benchmark}: {info['rows']} rows -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
