#!/usr/bin/env python3
"""Parity fixtures from the reference implementation (HF transformers `gemma4_unified`).

Runs on the GPU machine's Python (PyTorch 2.x, transformers >= 5.17, tokenizers, torchvision, Pillow),
on the CPU in fp32 with eager attention, so the numbers do not depend on the GPU. It builds small
random models of the real structure, the target (`gemma4_unified`: sliding and full layers, K=V on the
full ones, proportional RoPE, the 48-px vision embedder with factorized positions, the raw-frame audio
projection, output_proj_dims != the text width) and its drafter (`gemma4_unified_assistant`), runs
the reference processor on a real PNG, JPEG and WAV it writes, and saves under --out:

  manifest.json          versions, the cases, what each file holds, the mask semantics found, sha256s
  target/                save_pretrained of the target + tokenizer.json (g4u loads it as a checkpoint)
  assistant/             save_pretrained of the drafter
  media/                 image.png, image.jpg, audio.wav (the processor's inputs)
  case_<name>.safetensors processor outputs, per-layer hidden states, logits, greedy tokens
  drafter.safetensors    one drafter round of two steps after the `text` case's prompt
  tokenizer_cases.json   strings and their ids under tokenizer.json (tokenizers' own encoder)

tests/parity/parity_test.cpp loads them with g4u (CI, CPU). Usage:
  python3 tests/parity/make_fixtures.py --out tests/fixtures/parity [--seed 0]
Every disagreement it finds with the architecture document is written into manifest.json["findings"].
"""

import argparse
import hashlib
import importlib
import inspect
import json
import math
import os
import struct
import sys
import wave

import torch

# Token ids of the tiny vocabulary (also written into the tokenizer): the special tokens first.
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<|image>", "<|image|>", "<image|>", "<|audio>", "<|audio|>",
            "<audio|>", "<|video|>", "<|turn>", "<turn|>"]
IDS = {t: i for i, t in enumerate(SPECIALS)}
WORDS = ["▁hello", "▁world", "▁look", "▁at", "▁this", "▁listen", "▁now", "▁the", "▁a", "▁cat", "▁is", "▁on",
         "▁mat", "▁one", "▁two", "▁three", "▁image", "▁sound", "▁what", "▁do", "▁you", "▁see", "▁hear", "▁and"]
GREEDY_TOKENS = 6


def log(msg):
    print(f"make_fixtures: {msg}", flush=True)


def need(module, what):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        sys.exit(f"make_fixtures: {what} needs the Python package '{module}' ({e})")


# ---- tokenizer ------------------------------------------------------------------------------------

def build_tokenizer(path):
    """A BPE tokenizer.json with byte fallback in Gemma's style (▁ for spaces, no pre-tokenizer)."""
    tk = need("tokenizers", "the tokenizer")
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    merges = []
    # Every word is built letter by letter through merges, so the fixture exercises the merge ranks.
    pieces = set()
    for w in WORDS:
        for ch in w:
            pieces.add(ch)
    for p in sorted(pieces):
        if p not in vocab:
            vocab[p] = len(vocab)
    for w in WORDS:
        cur = w[0]
        for ch in w[1:]:
            nxt = cur + ch
            if nxt not in vocab:
                vocab[nxt] = len(vocab)
                merges.append((cur, ch))
            cur = nxt
    for d in "0123456789":
        if d not in vocab:
            vocab[d] = len(vocab)
    model = tk.models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    tok = tk.Tokenizer(model)
    tok.normalizer = tk.normalizers.Replace(" ", "▁")
    tok.decoder = tk.decoders.Sequence([tk.decoders.Replace("▁", " "), tk.decoders.ByteFallback(),
                                        tk.decoders.Fuse()])
    tok.add_special_tokens([tk.AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    tok.save(path)
    return tok, len(vocab)


def tokenizer_cases(tok):
    strings = ["hello world", " hello  world ", "the cat is on the mat", "one two three 123 4567",
               "ünïcödé naïve café", "日本語のテキスト", "emoji 🙂🚀 end", "tabs\tand\nnew lines\r\n",
               "<bos>look <|image|> at this<eos>", "<|turn>user\nwhat do you see<turn|>\n<|turn>model\n",
               "", " ", "▁already▁marked", "x" * 40, "mixed<|audio|>inside<audio|>text"]
    out = []
    for s in strings:
        enc = tok.encode(s, add_special_tokens=False)
        out.append({"text": s, "ids": enc.ids, "pieces": enc.tokens, "decoded": tok.decode(enc.ids, skip_special_tokens=False)})
    return out


# ---- models ---------------------------------------------------------------------------------------

ROPE = {"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
        "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1000000.0}}
LAYER_TYPES = ["sliding_attention", "sliding_attention", "full_attention",
               "sliding_attention", "sliding_attention", "full_attention"]
SLIDING_WINDOW = 8


def text_kwargs(vocab):
    return dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=len(LAYER_TYPES),
                layer_types=LAYER_TYPES, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                global_head_dim=32, num_global_key_value_heads=1, attention_k_eq_v=True,
                sliding_window=SLIDING_WINDOW, final_logit_softcapping=30.0, rope_parameters=ROPE,
                use_bidirectional_attention="vision", rms_norm_eps=1e-6, max_position_embeddings=4096,
                pad_token_id=IDS["<pad>"], eos_token_id=IDS["<eos>"], bos_token_id=IDS["<bos>"],
                hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True)


def from_config(cls, cfg):
    """An fp32 model with eager attention (`dtype` in transformers 5, `torch_dtype` before)."""
    try:
        return cls._from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    except TypeError:
        return cls._from_config(cfg, attn_implementation="eager", torch_dtype=torch.float32)


def build_models(vocab, seed):
    cfg_mod = need("transformers.models.gemma4_unified.configuration_gemma4_unified", "the target config")
    mdl_mod = need("transformers.models.gemma4_unified.modeling_gemma4_unified", "the target model")
    acfg_mod = need("transformers.models.gemma4_unified_assistant.configuration_gemma4_unified_assistant",
                    "the assistant config")
    amdl_mod = need("transformers.models.gemma4_unified_assistant.modeling_gemma4_unified_assistant",
                    "the assistant model")
    text = cfg_mod.Gemma4UnifiedTextConfig(**text_kwargs(vocab))
    # output_proj_dims is the projection's input width and must equal mm_embed_dim (48 != text 64).
    vision = cfg_mod.Gemma4UnifiedVisionConfig(patch_size=16, pooling_kernel_size=3, mm_embed_dim=48,
                                               output_proj_dims=48, mm_posemb_size=80, rms_norm_eps=1e-6)
    audio = cfg_mod.Gemma4UnifiedAudioConfig(audio_embed_dim=640, rms_norm_eps=1e-6)
    cfg = cfg_mod.Gemma4UnifiedConfig(
        text_config=text, vision_config=vision, audio_config=audio,
        boi_token_id=IDS["<|image>"], image_token_id=IDS["<|image|>"], eoi_token_id=IDS["<image|>"],
        boa_token_id=IDS["<|audio>"], audio_token_id=IDS["<|audio|>"], eoa_token_index=IDS["<audio|>"],
        video_token_id=IDS["<|video|>"], tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = from_config(mdl_mod.Gemma4UnifiedForConditionalGeneration, cfg)
    dtext = cfg_mod.Gemma4UnifiedTextConfig(
        **{**text_kwargs(vocab), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
           "layer_types": ["sliding_attention", "full_attention"], "final_logit_softcapping": None,
           "num_kv_shared_layers": 2})
    acfg = acfg_mod.Gemma4UnifiedAssistantConfig(text_config=dtext, backbone_hidden_size=64, tie_word_embeddings=True)
    torch.manual_seed(seed + 1)
    assistant = from_config(amdl_mod.Gemma4UnifiedAssistantForCausalLM, acfg)
    for m in (model, assistant):
        m.eval()
        attn = m.config.get_text_config()._attn_implementation
        if attn != "eager":
            sys.exit(f"make_fixtures: {type(m).__name__} runs '{attn}' attention, not eager")
        randomize_constants(m, seed + 2)
    return model, assistant, mdl_mod


@torch.no_grad()
def randomize_constants(model, seed):
    """Norm weights, LayerNorm biases and layer scalars start as constants: give them values that
    a wrong norm convention (w vs 1 + w), a missing scalar or a swapped bias would show."""
    g = torch.Generator().manual_seed(seed)
    for name, p in list(model.named_parameters()) + list(model.named_buffers()):
        if not p.is_floating_point() or "inv_freq" in name or "embed_scale" in name:
            continue
        if name.endswith("layer_scalar"):
            p.copy_(0.5 + torch.rand(p.shape, generator=g))
        elif "norm" in name or "_ln" in name:
            if name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
        elif name.endswith("pos_embedding"):
            p.copy_(0.5 * torch.randn(p.shape, generator=g))


# ---- media ----------------------------------------------------------------------------------------

def write_media(folder):
    Image = need("PIL.Image", "the images")
    os.makedirs(folder, exist_ok=True)
    g = torch.Generator().manual_seed(7)

    def picture(h, w):
        y = torch.linspace(0, 1, h).view(h, 1, 1)
        x = torch.linspace(0, 1, w).view(1, w, 1)
        base = torch.cat([y.expand(h, w, 1), x.expand(h, w, 1), (x * y).expand(h, w, 1)], -1)
        noise = 0.15 * torch.rand(h, w, 3, generator=g)
        return ((base + noise).clamp(0, 1) * 255).round().to(torch.uint8).numpy()

    png = os.path.join(folder, "image.png")
    Image.fromarray(picture(75, 100), "RGB").save(png)
    jpg = os.path.join(folder, "image.jpg")
    Image.fromarray(picture(130, 90), "RGB").save(jpg, quality=90)
    wav = os.path.join(folder, "audio.wav")
    rate, n = 16000, 16000 * 3 // 10 + 123  # 0.3 s and a partial last frame
    t = torch.arange(n, dtype=torch.float64) / rate
    x = 0.4 * torch.sin(2 * math.pi * 440 * t) + 0.05 * torch.randn(n, generator=g, dtype=torch.float64)
    pcm = (x.clamp(-1, 1) * 32767).round().to(torch.int16)
    with wave.open(wav, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(pcm.numpy().tobytes())
    return png, jpg, wav


def read_wav(path):
    with wave.open(path, "rb") as f:
        frames = f.readframes(f.getnframes())
    pcm = torch.tensor(struct.unpack(f"<{len(frames) // 2}h", frames), dtype=torch.float32)
    return (pcm / 32768.0).numpy()  # libsndfile's normalisation of 16-bit PCM


# ---- processor ------------------------------------------------------------------------------------

def build_processor(tokenizer_path):
    tr = need("transformers", "the processor")
    proc_mod = need("transformers.models.gemma4_unified.processing_gemma4_unified", "the processor")
    img_mod = need("transformers.models.gemma4_unified.image_processing_gemma4_unified", "the image processor")
    fe_mod = need("transformers.models.gemma4_unified.feature_extraction_gemma4_unified", "the audio features")
    vid_mod = need("transformers.models.gemma4_unified.video_processing_gemma4_unified", "the video processor")
    tok = tr.PreTrainedTokenizerFast(
        tokenizer_file=tokenizer_path, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>", pad_token="<pad>",
        extra_special_tokens={"image_token": "<|image|>", "boi_token": "<|image>", "eoi_token": "<image|>",
                              "audio_token": "<|audio|>", "boa_token": "<|audio>", "eoa_token": "<audio|>"})
    proc = proc_mod.Gemma4UnifiedProcessor(
        feature_extractor=fe_mod.Gemma4UnifiedAudioFeatureExtractor(),
        image_processor=img_mod.Gemma4UnifiedImageProcessor(max_soft_tokens=70),
        tokenizer=tok, video_processor=vid_mod.Gemma4UnifiedVideoProcessor())
    for name in ("image_token", "audio_token", "boi_token", "eoa_token"):
        tid = tok.convert_tokens_to_ids(getattr(tok, name))
        want = IDS[{"image_token": "<|image|>", "audio_token": "<|audio|>", "boi_token": "<|image>",
                    "eoa_token": "<audio|>"}[name]]
        if tid != want:
            sys.exit(f"make_fixtures: tokenizer {name} has id {tid}, the config {want}")
    return proc


# ---- masks ----------------------------------------------------------------------------------------

def block_ids(mm):
    """Each maximal run of image/video soft tokens gets 0, 1, ...; -1 elsewhere."""
    vis = (mm == 1) | (mm == 2)
    prev = torch.cat([torch.zeros_like(vis[:, :1]), vis[:, :-1]], 1)
    starts = vis & ~prev
    return torch.where(vis, starts.long().cumsum(1) - 1, torch.full_like(mm, -1))


def explicit_masks(mm, mode, dtype=torch.float32):
    """Eager additive masks {layer type: [B, 1, T, T]} for the two vision-mask semantics g4u has:
    'sliding_blocks' (image blocks see each other on sliding layers, inside the window; full layers
    causal) and 'all_layers_no_window' (blocks see each other on every layer, past the window)."""
    T = mm.shape[1]
    q = torch.arange(T).view(T, 1)
    k = torch.arange(T).view(1, T)
    causal = k <= q
    window = k > q - SLIDING_WINDOW
    b = block_ids(mm)
    same = (b.unsqueeze(2) == b.unsqueeze(1)) & (b.unsqueeze(2) >= 0)  # [B, T, T]
    if mode == "sliding_blocks":
        full = causal.unsqueeze(0).expand_as(same)
        sliding = (causal.unsqueeze(0) | same) & window.unsqueeze(0)
    elif mode == "all_layers_no_window":
        full = causal.unsqueeze(0) | same
        sliding = (causal & window).unsqueeze(0) | same
    else:
        raise ValueError(mode)
    lo = torch.finfo(dtype).min
    as_float = lambda allowed: torch.where(allowed, 0.0, lo).to(dtype).unsqueeze(1)
    return {"full_attention": as_float(full), "sliding_attention": as_float(sliding)}


# ---- runs -----------------------------------------------------------------------------------------

@torch.no_grad()
def run_target(model, inputs, masks):
    """Embeddings, each layer's raw output, the final norm's output and logits of one forward."""
    layers = model.model.language_model.layers
    outs = []
    hooks = [layer.register_forward_hook(lambda m, a, o: outs.append((o[0] if isinstance(o, tuple) else o).clone()))
             for layer in layers]
    try:
        kwargs = dict(inputs)
        if masks is not None:
            kwargs["attention_mask"] = masks
        r = model(**kwargs, output_hidden_states=True, use_cache=False, return_dict=True)
    finally:
        for h in hooks:
            h.remove()
    return {"embeddings": r.hidden_states[0], "layers": outs, "final_norm": r.hidden_states[-1], "logits": r.logits}


@torch.no_grad()
def greedy(model, inputs, masks_of, n):
    """n greedy tokens by repeated full forwards (no cache): the mask of each step from masks_of."""
    ids = inputs["input_ids"]
    mm = inputs["mm_token_type_ids"]
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "mm_token_type_ids", "attention_mask")}
    out = []
    for _ in range(n):
        r = model(input_ids=ids, mm_token_type_ids=mm, attention_mask=masks_of(mm), use_cache=False, **extra)
        nxt = r.logits[:, -1].argmax(-1, keepdim=True)
        out.append(int(nxt))
        ids = torch.cat([ids, nxt], 1)
        mm = torch.cat([mm, torch.zeros_like(nxt)], 1)
    return out


@torch.no_grad()
def drafter_round(model, assistant, inputs):
    """Two drafter steps after the prompt, as g4u's AssistantDrafter::draft runs them: the token and
    post-norm hidden state of the last slot, position = prompt length, the target's last sliding and
    full layers' K/V."""
    T = inputs["input_ids"].shape[1]
    if T > SLIDING_WINDOW:
        sys.exit(f"make_fixtures: the drafter case's prompt ({T}) must fit the window ({SLIDING_WINDOW})")
    r = model(**inputs, output_hidden_states=True, return_shared_kv_states=True, use_cache=False, return_dict=True)
    x = r.logits[:, -1].argmax(-1, keepdim=True)
    c = r.hidden_states[-1][:, T - 1:T]
    embed = model.get_input_embeddings()
    pos = torch.tensor([[T]])
    saved = {"drafter.target_token": x.view(1).long(), "drafter.position": pos.view(1).long()}
    token = x
    for step in range(2):
        e = embed(token)
        d = assistant(inputs_embeds=torch.cat([e, c], -1), position_ids=pos, shared_kv_states=r.shared_kv_states,
                      attention_mask=None, return_dict=True)
        saved[f"drafter.step{step}.embedding"] = e[0, 0]
        saved[f"drafter.step{step}.context"] = c[0, 0]
        saved[f"drafter.step{step}.logits"] = d.logits[0, 0]
        token = d.logits[:, -1].argmax(-1, keepdim=True)
        saved[f"drafter.step{step}.token"] = token.view(1).long()
        c = d.last_hidden_state[:, -1:]
    return saved


# ---- main -----------------------------------------------------------------------------------------

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="tests/fixtures/parity")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    tr = need("transformers", "everything")
    st = need("safetensors.torch", "the tensor files")
    torch.set_grad_enabled(False)
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    findings = []

    tok_path = os.path.join(out, "tokenizer.json")
    tok, vocab = build_tokenizer(tok_path)
    vocab = (vocab + 63) // 64 * 64
    log(f"tokenizer: {len(SPECIALS)} specials, vocabulary padded to {vocab}")
    with open(os.path.join(out, "tokenizer_cases.json"), "w") as f:
        json.dump({"tokenizer": "target/tokenizer.json", "tokenizers_version": need("tokenizers", "").__version__,
                   "cases": tokenizer_cases(tok)}, f, ensure_ascii=False, indent=1)

    model, assistant, mdl_mod = build_models(vocab, args.seed)
    target_dir, assistant_dir = os.path.join(out, "target"), os.path.join(out, "assistant")
    model.save_pretrained(target_dir, safe_serialization=True)
    assistant.save_pretrained(assistant_dir, safe_serialization=True)
    os.replace(tok_path, os.path.join(target_dir, "tokenizer.json"))
    saved_keys = []
    with need("safetensors", "").safe_open(os.path.join(target_dir, "model.safetensors"), "pt") as f:
        saved_keys = list(f.keys())
    if any(k.startswith("lm_head") for k in saved_keys):
        findings.append("save_pretrained wrote lm_head.weight although the head is tied")
    vision_spelling = "model.vision_embedder" if any(k.startswith("model.vision_embedder") for k in saved_keys) \
        else "model.embed_vision"
    log(f"target: {sum(p.numel() for p in model.parameters())} parameters, vision tensors as {vision_spelling}.*")

    png, jpg, wav = write_media(os.path.join(out, "media"))
    proc = build_processor(os.path.join(target_dir, "tokenizer.json"))
    from PIL import Image
    cases = {
        "text": {"text": "<bos>hello world the cat", "images": None, "audio": None},
        "png": {"text": "<bos>look at <|image|> what do you see", "images": [png], "audio": None},
        "jpeg": {"text": "<bos><|image|> the image", "images": [jpg], "audio": None},
        "wav": {"text": "<bos>listen <|audio|> now", "images": None, "audio": wav},
    }
    mask_facts = {}
    manifest_cases = []
    for name, case in cases.items():
        kw = {"text": [case["text"]], "return_tensors": "pt"}
        if case["images"]:
            kw["images"] = [[Image.open(p).convert("RGB") for p in case["images"]]]
        if case["audio"]:
            kw["audio"] = [read_wav(case["audio"])]
        inputs = dict(proc(**kw))
        inputs.pop("num_soft_tokens_per_image", None)
        mm = inputs["mm_token_type_ids"]
        tensors = {"input_ids": inputs["input_ids"][0].long(), "mm_token_type_ids": mm[0].long()}
        if "pixel_values" in inputs:
            tensors["pixel_values"] = inputs["pixel_values"][0].float()
            tensors["image_position_ids"] = inputs["image_position_ids"][0].long()
        if "input_features" in inputs:
            tensors["input_features"] = inputs["input_features"][0].float()
            tensors["input_features_mask"] = inputs["input_features_mask"][0].to(torch.uint8)
        # g4u's default vision mask, then the other semantics and the installed default call.
        runs = {mode: run_target(model, inputs, explicit_masks(mm, mode))
                for mode in ("sliding_blocks", "all_layers_no_window")}
        plain = run_target(model, inputs, None)
        r = runs["sliding_blocks"]
        tensors["embeddings"] = r["embeddings"][0]
        for i, h in enumerate(r["layers"]):
            tensors[f"layer_{i:02d}"] = h[0]
        tensors["final_norm"] = r["final_norm"][0]
        tensors["logits"] = r["logits"][0]
        tensors["logits_all_layers_no_window"] = runs["all_layers_no_window"]["logits"][0]
        tensors["logits_plain_call"] = plain["logits"][0]
        matches = [m for m, rr in runs.items() if torch.allclose(rr["logits"], plain["logits"], atol=1e-5, rtol=0)]
        mask_facts[name] = matches
        tensors["greedy"] = torch.tensor(greedy(model, inputs, lambda m: explicit_masks(m, "sliding_blocks"),
                                                GREEDY_TOKENS), dtype=torch.long)
        path = os.path.join(out, f"case_{name}.safetensors")
        st.save_file({k: v.contiguous() for k, v in tensors.items()}, path)
        manifest_cases.append({"name": name, "text": case["text"],
                               "images": [os.path.relpath(p, out) for p in case["images"] or []],
                               "audio": os.path.relpath(case["audio"], out) if case["audio"] else None,
                               "file": os.path.basename(path), "layers": len(r["layers"]),
                               "plain_call_matches": matches})
        log(f"case {name}: {tensors['input_ids'].numel()} tokens, plain call matches {matches or 'neither'}")
        if name == "text":
            d = drafter_round(model, assistant, inputs)
            st.save_file({k: v.contiguous() for k, v in d.items()}, os.path.join(out, "drafter.safetensors"))

    image_modes = {m for n in ("png", "jpeg") for m in mask_facts[n]}
    if image_modes and "sliding_blocks" not in image_modes:
        findings.append(f"a plain forward with an image applies the vision mask as {sorted(image_modes)}, "
                        "not the document's default (sliding layers only, inside the window)")
    files = sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs
                   if f != "manifest.json")
    manifest = {
        "format": 1,
        "created_by": "tests/parity/make_fixtures.py",
        "seed": args.seed,
        "versions": {"transformers": tr.__version__, "torch": torch.__version__,
                     "modeling_file": os.path.relpath(inspect.getsourcefile(mdl_mod), os.path.dirname(tr.__file__))},
        "dtype": "float32", "attention": "eager",
        "target": "target", "assistant": "assistant", "vision_tensor_prefix": vision_spelling,
        "image_budget": 70, "sliding_window": SLIDING_WINDOW, "greedy_tokens": GREEDY_TOKENS,
        "vision_mask": "sliding_blocks",
        "cases": manifest_cases,
        "drafter": {"file": "drafter.safetensors", "case": "text", "steps": 2},
        "tolerance": {"max_abs": 1e-4},
        "findings": findings,
        "sha256": {f: sha256(os.path.join(out, f)) for f in files},
    }
    tmp = os.path.join(out, "manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, os.path.join(out, "manifest.json"))
    total = sum(os.path.getsize(os.path.join(out, f)) for f in files)
    log(f"wrote {len(files)} files ({total / 1e6:.1f} MB) to {out}; findings: {findings or 'none'}")


if __name__ == "__main__":
    main()
