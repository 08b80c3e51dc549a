// Package train trains MobileNet on CIFAR-10 through Gorgonia's autodiff:
// SGD with Nesterov momentum and weight decay, warm-up and cosine learning
// rate, augmentation, per-epoch evaluation, metrics log and atomic,
// exactly resumable checkpoints.
package train
