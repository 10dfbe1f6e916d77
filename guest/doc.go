// Package guest runs the scenario corpus on a foreign architecture's real
// Linux kernel under qemu's software emulation, for conform --arch: it
// fetches a stock Debian kernel (image, config, modules) into a private
// user cache with a private apt state, cross-builds the executor and the
// faultline binary for the guest, writes a newc initramfs and an ext4
// scratch disk, boots qemu with a bound, and collects the one JSON result
// per scenario the in-guest init (Init, run as PID 1 by the faultline
// binary) prints on the console. Nothing is installed into the system.
//
// The host side compares the results with the model (package conform);
// this package knows how to get them, not what they mean.
package guest
