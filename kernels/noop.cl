/* An empty kernel: what one launch costs by itself. */
__kernel void noop(void)
{
}
