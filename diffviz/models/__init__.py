"""Model handle, conditioners, builders, bundled-model registry and safetensors IO."""
