// Audio building blocks of the synthetic suites: 16-bit PCM WAV encoding through libsndfile (in
// memory), a windowed-sinc resampler written out here (so the bytes do not depend on a library's
// run-time SIMD choice), tones, and speech from libespeak-ng (AUDIO_OUTPUT_SYNCHRONOUS, to memory).
#pragma once

#include <string>
#include <vector>

namespace g4u::datasets {

inline constexpr int kSynthSampleRate = 16000;

// Mono float samples in [-1, 1] (clipped) -> 16-bit PCM WAV bytes.
std::string encode_wav_pcm16(const std::vector<float>& samples, int sample_rate);

// Band-limited resampling (Hann-windowed sinc, 24 input samples each side of the centre, cut-off
// at 0.95 of the lower Nyquist frequency; polyphase table). Output length floor(n * out_rate / in_rate).
std::vector<float> resample(const std::vector<float>& x, int in_rate, int out_rate);

// Adds a sine tone of `seconds` at `start` (seconds) with 5 ms linear fades; grows `buf` as needed.
void add_tone(std::vector<float>& buf, int sample_rate, double start, double seconds, double freq_hz,
              double amplitude);

double rms(const std::vector<float>& x);

struct SpeechOptions {
  std::string voice = "en-us";  // an espeak-ng voice name, optionally with a +variant ("en-us+f2")
  int rate_wpm = 160;           // espeakRATE, words per minute (80..450)
  int pitch = 50;               // espeakPITCH, 0..100
  // espeak-ng 1.51 draws its noise (unvoiced sounds) from the C library's rand(); the worker calls
  // srand(noise_seed) before speaking.
  unsigned noise_seed = 1;
};

// The voices the suites draw from (all shipped by Debian's espeak-ng-data).
const std::vector<std::string>& synth_voices();

// `text` spoken by espeak-ng, resampled to 16 kHz mono, leading and trailing silence trimmed to
// 50 ms. The same arguments give the same samples whatever was spoken before: each utterance is
// synthesized in a forked child of a process whose espeak-ng never spoke (espeak-ng carries
// synthesis state from one utterance to the next). Thread-safe (calls are serialized). Throws
// InternalError when espeak-ng cannot be initialized or the voice is unknown.
std::vector<float> speak(const std::string& text, const SpeechOptions& options);

}  // namespace g4u::datasets
