"""Network layers shared by the families (one module per kind of layer)."""
