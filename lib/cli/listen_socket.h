/* listen_socket.h — a listening TCP socket from an option's "[ADDR:]PORT"
 * (iot-httpd --listen, iot-mqtt-listen --metrics-listen). */
#ifndef IOT_LISTEN_SOCKET_H
#define IOT_LISTEN_SOCKET_H

/* "[ADDR:]PORT", "[V6ADDR]:PORT", ":PORT" (ADDR default 0.0.0.0): a
 * listening socket (close-on-exec) in *fd and 0, or an exit code with the
 * reason printed (usage: "invalid --OPTION '...'", "unable to listen on ..."). */
int iot_listen_socket(const char *option, const char *spec, int *fd);

#endif
