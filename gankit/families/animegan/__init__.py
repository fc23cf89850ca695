"""AnimeGAN v1/v2: photo to anime-style images and videos (train, stylize, video, convert)."""
