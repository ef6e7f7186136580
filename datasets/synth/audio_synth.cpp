#include "datasets/synth/audio_synth.h"

#include "base/error.h"

#if defined(G4U_WITH_SPEECH)
#include <espeak-ng/speak_lib.h>
#endif
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <numeric>

#include <cerrno>
#include <sys/wait.h>
#include <unistd.h>

namespace g4u::datasets {

namespace {

struct GrowBuffer {
  std::string data;
  sf_count_t pos = 0;
};

sf_count_t gb_len(void* u) { return static_cast<sf_count_t>(static_cast<GrowBuffer*>(u)->data.size()); }
sf_count_t gb_seek(sf_count_t off, int whence, void* u) {
  auto* b = static_cast<GrowBuffer*>(u);
  sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? b->pos : static_cast<sf_count_t>(b->data.size());
  if (base + off < 0) return -1;
  b->pos = base + off;
  return b->pos;
}
sf_count_t gb_read(void* ptr, sf_count_t count, void* u) {
  auto* b = static_cast<GrowBuffer*>(u);
  sf_count_t left = static_cast<sf_count_t>(b->data.size()) - b->pos;
  sf_count_t n = std::max<sf_count_t>(0, std::min(count, left));
  if (n > 0) std::memcpy(ptr, b->data.data() + b->pos, static_cast<size_t>(n));
  b->pos += n;
  return n;
}
sf_count_t gb_write(const void* ptr, sf_count_t count, void* u) {
  auto* b = static_cast<GrowBuffer*>(u);
  size_t end = static_cast<size_t>(b->pos + count);
  if (end > b->data.size()) b->data.resize(end);
  std::memcpy(b->data.data() + b->pos, ptr, static_cast<size_t>(count));
  b->pos += count;
  return count;
}
sf_count_t gb_tell(void* u) { return static_cast<GrowBuffer*>(u)->pos; }

}  // namespace

std::string encode_wav_pcm16(const std::vector<float>& samples, int sample_rate) {
  G4U_CHECK(!samples.empty(), "no samples to encode");
  // Quantize ourselves (round half away from zero after clipping), so the bytes do not depend on
  // libsndfile's float conversion settings.
  std::vector<short> pcm(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    float v = std::clamp(samples[i], -1.0f, 1.0f);
    pcm[i] = static_cast<short>(std::lround(v * 32767.0f));
  }
  GrowBuffer buf;
  SF_VIRTUAL_IO io{gb_len, gb_seek, gb_read, gb_write, gb_tell};
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open_virtual(&io, SFM_WRITE, &info, &buf);
  G4U_CHECK(f != nullptr, "libsndfile cannot open a WAV writer: {}", sf_strerror(nullptr));
  sf_count_t n = sf_write_short(f, pcm.data(), static_cast<sf_count_t>(pcm.size()));
  int err = sf_close(f);
  G4U_CHECK(n == static_cast<sf_count_t>(pcm.size()) && err == 0, "libsndfile WAV write failed");
  return buf.data;
}

std::vector<float> resample(const std::vector<float>& x, int in_rate, int out_rate) {
  G4U_CHECK(in_rate > 0 && out_rate > 0, "bad rates {} -> {}", in_rate, out_rate);
  if (in_rate == out_rate) return x;
  const double kPi = 3.14159265358979323846;
  const double cutoff = 0.5 * std::min(1.0, static_cast<double>(out_rate) / in_rate) * 0.95;  // cycles per input sample
  const int half = 24;  // kernel half-width in input samples
  // Output n sits at input position n * in / out = (n * M) / L with L = out / g, M = in / g: an
  // integer part and one of L fractional phases p / L. The filter taps of each phase are computed
  // once (polyphase table).
  int64_t g = std::gcd<int64_t>(in_rate, out_rate), L = out_rate / g, M = in_rate / g;
  G4U_CHECK(L <= 65536, "resampling ratio {}/{} needs too many phases", out_rate, in_rate);
  auto tap = [&](double d) {  // windowed sinc at distance d (input samples)
    double u = d / half;
    if (u <= -1 || u >= 1) return 0.0;
    double arg = 2 * cutoff * d;
    double sinc = arg == 0 ? 1.0 : std::sin(kPi * arg) / (kPi * arg);
    return 2 * cutoff * sinc * (0.5 + 0.5 * std::cos(kPi * u));
  };
  std::vector<double> table(static_cast<size_t>(L) * 2 * half);
  for (int64_t p = 0; p < L; ++p)
    for (int j = 0; j < 2 * half; ++j)  // input k = floor + j - half + 1, distance frac - (j - half + 1)
      table[static_cast<size_t>(p) * 2 * half + j] = tap(static_cast<double>(p) / L - (j - half + 1));
  size_t n_out = static_cast<size_t>(static_cast<int64_t>(x.size()) * L / M);
  std::vector<float> y(n_out);
  const int64_t nx = static_cast<int64_t>(x.size());
  for (size_t n = 0; n < n_out; ++n) {
    int64_t pos = static_cast<int64_t>(n) * M;
    int64_t base = pos / L - half + 1, p = pos % L;
    const double* h = &table[static_cast<size_t>(p) * 2 * half];
    double acc = 0;
    for (int j = 0; j < 2 * half; ++j) {
      int64_t k = base + j;
      if (k >= 0 && k < nx) acc += x[static_cast<size_t>(k)] * h[j];
    }
    y[n] = static_cast<float>(acc);
  }
  return y;
}

void add_tone(std::vector<float>& buf, int sample_rate, double start, double seconds, double freq_hz, double amplitude) {
  const double kPi = 3.14159265358979323846;
  int64_t i0 = std::llround(start * sample_rate);
  int64_t n = std::llround(seconds * sample_rate);
  int64_t fade = std::max<int64_t>(1, std::llround(0.005 * sample_rate));
  if (static_cast<int64_t>(buf.size()) < i0 + n) buf.resize(static_cast<size_t>(i0 + n), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    double env = std::min({1.0, static_cast<double>(i) / fade, static_cast<double>(n - 1 - i) / fade});
    buf[static_cast<size_t>(i0 + i)] +=
        static_cast<float>(amplitude * env * std::sin(2 * kPi * freq_hz * static_cast<double>(i) / sample_rate));
  }
}

double rms(const std::vector<float>& x) {
  if (x.empty()) return 0;
  double s = 0;
  for (float v : x) s += static_cast<double>(v) * v;
  return std::sqrt(s / static_cast<double>(x.size()));
}

const std::vector<std::string>& synth_voices() {
  static const std::vector<std::string> v = {"en-us", "en-us+f2", "en+m3", "en-gb-scotland+f4", "en-029+m5"};
  return v;
}

#if defined(G4U_WITH_SPEECH)
namespace {

// espeak-ng keeps synthesis state in globals that carry over from one utterance to the next (the
// pitch flutter index, wave phase, resonator and echo state, the C library's rand()), so the same
// text would not give the same samples twice in one process. Each utterance is therefore
// synthesized in a forked child of a process that initialized espeak-ng but never spoke: every
// child starts from the same state. The child sends the samples back through a pipe.
std::mutex g_espeak_mutex;
std::vector<short>* g_espeak_out = nullptr;

int espeak_callback(short* wav, int n, espeak_EVENT*) {
  if (wav && n > 0 && g_espeak_out) g_espeak_out->insert(g_espeak_out->end(), wav, wav + n);
  return 0;  // continue
}

int espeak_rate() {
  static int rate = [] {
    int r = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nullptr, espeakINITIALIZE_DONT_EXIT);
    G4U_CHECK(r > 0, "espeak-ng failed to initialize (is espeak-ng-data installed?), code {}", r);
    espeak_SetSynthCallback(espeak_callback);
    // Load the English voice and dictionary once here, so the workers do not each parse them
    // (all synth voices are English variants); nothing is spoken in this process.
    espeak_SetVoiceByName("en-us");
    return r;
  }();
  return rate;
}

bool write_all(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t k = ::write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// Child side: synthesize and send [int32 status][samples...]; status 0 ok, 1 unknown voice,
// 2 synthesis error. Never returns.
[[noreturn]] void espeak_child(int fd, const std::string& text, const SpeechOptions& o) {
  std::vector<short> pcm;
  int32_t status = 0;
  if (espeak_SetVoiceByName(o.voice.c_str()) != EE_OK) {
    status = 1;
  } else {
    espeak_SetParameter(espeakRATE, o.rate_wpm, 0);
    espeak_SetParameter(espeakPITCH, o.pitch, 0);
    espeak_SetParameter(espeakVOLUME, 100, 0);
    std::srand(o.noise_seed);
    g_espeak_out = &pcm;
    espeak_ERROR e = espeak_Synth(text.c_str(), text.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, nullptr, nullptr);
    espeak_Synchronize();
    if (e != EE_OK) status = 2;
  }
  bool ok = write_all(fd, &status, sizeof status) && write_all(fd, pcm.data(), pcm.size() * sizeof(short));
  ::_exit(ok ? 0 : 3);
}

}  // namespace

std::vector<float> speak(const std::string& text, const SpeechOptions& o) {
  std::vector<short> pcm;
  int rate = 0;
  {
    std::lock_guard<std::mutex> lock(g_espeak_mutex);
    rate = espeak_rate();
    int fds[2];
    G4U_CHECK(::pipe(fds) == 0, "pipe failed: {}", std::strerror(errno));
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      espeak_child(fds[1], text, o);
    }
    ::close(fds[1]);
    if (pid < 0) {
      ::close(fds[0]);
      G4U_CHECK(false, "fork failed: {}", std::strerror(errno));
    }
    std::string bytes;
    char buf[65536];
    for (;;) {
      ssize_t k = ::read(fds[0], buf, sizeof buf);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) break;
      bytes.append(buf, static_cast<size_t>(k));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    G4U_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0 && bytes.size() >= sizeof(int32_t),
              "espeak-ng worker for '{}' failed (status {})", text, status);
    int32_t code = 0;
    std::memcpy(&code, bytes.data(), sizeof code);
    G4U_CHECK(code != 1, "espeak-ng: unknown voice '{}'", o.voice);
    G4U_CHECK(code == 0, "espeak-ng failed to synthesize '{}'", text);
    pcm.resize((bytes.size() - sizeof code) / sizeof(short));
    std::memcpy(pcm.data(), bytes.data() + sizeof code, pcm.size() * sizeof(short));
  }
  G4U_CHECK(!pcm.empty(), "espeak-ng produced no audio for '{}'", text);
  std::vector<float> x(pcm.size());
  for (size_t i = 0; i < pcm.size(); ++i) x[i] = static_cast<float>(pcm[i]) / 32768.0f;
  std::vector<float> y = resample(x, rate, kSynthSampleRate);
  // Trim silence, keeping 50 ms on each side.
  const float thr = 1e-3f;
  size_t first = 0, last = y.size();
  while (first < y.size() && std::fabs(y[first]) < thr) ++first;
  while (last > first && std::fabs(y[last - 1]) < thr) --last;
  G4U_CHECK(last > first, "espeak-ng produced only silence for '{}'", text);
  size_t pad = kSynthSampleRate / 20;
  size_t a = first > pad ? first - pad : 0, b = std::min(y.size(), last + pad);
  return std::vector<float>(y.begin() + static_cast<std::ptrdiff_t>(a), y.begin() + static_cast<std::ptrdiff_t>(b));
}

#else

std::vector<float> speak(const std::string& text, const SpeechOptions&) {
  throw_input("speech for '{}': this g4u was built without speech synthesis (cmake -DG4U_WITH_SPEECH=OFF; "
              "libespeak-ng)", text);
}

#endif  // G4U_WITH_SPEECH

}  // namespace g4u::datasets
