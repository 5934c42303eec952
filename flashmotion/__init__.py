"""FlashMotion: few-step trajectory-controllable image-to-video generation on Wan2.2-TI2V."""
