"""Progressive GAN (Karras et al. 2018): grow G and D from 4x4 with fade-in, equalised lr."""
