"""fibench: benchmark FlashInfer kernels and audit their parity against reference kernels."""

__version__ = "0.1.0"
