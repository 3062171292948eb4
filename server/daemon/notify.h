/*
 * notify.h - tells systemd how berthd is doing (Type=notify units).
 *
 * The sd_notify protocol: one datagram of "KEY=VALUE" lines to the unix
 * socket named by $NOTIFY_SOCKET. Written here rather than linking
 * libsystemd, whose start-up cost in memory is larger than this whole
 * file; nothing happens when berthd is not run by systemd.
 */
#ifndef BERTH_DAEMON_NOTIFY_H
#define BERTH_DAEMON_NOTIFY_H

/*
 * Sends `state` ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...")
 * when $NOTIFY_SOCKET is set; failures are ignored (systemd then times
 * the unit out and says so). Any thread.
 */
void notify_systemd(const char *state);

#endif
