"""dlib's pretrained face models (ResNet embedding, 5-point landmarks, CNN face detector),
ported to NumPy and Keras.

The weights come from the pinned PyPI package `face-recognition-models`; nothing here imports dlib.
"""
