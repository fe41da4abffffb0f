"""Operations turn images into images (pack) or into reports (inspect)."""
