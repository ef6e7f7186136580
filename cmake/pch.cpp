// Builds the shared precompiled header (torch/torch.h) once; every torch-using target reuses it.
